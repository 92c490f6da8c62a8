// End-to-end in Chromium against the real `offpay serve`: register, log out and in, operator deposit,
// an online payment seen live by the payee (two browser contexts), history, and a failed payment
// with its reason. Screenshots go to $OFFPAY_SCREENSHOTS (scripts/web-screenshots).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServerAndBrowser, stopServerAndBrowser, depositAndReload, phone, register, shot, textOf, waitText } from "../harness.js";

let srv;
let browser;
before(async () => { ({ srv, browser } = await startServerAndBrowser()); });
after(() => stopServerAndBrowser({ srv, browser }));

test("online: register, deposit, send, and the payee's balance and history change live", async () => {
  const a = await phone(browser);
  const b = await phone(browser);
  await a.page.goto(`${srv.url}/`);
  await a.page.getByRole("heading", { name: "Log in to offpay" }).waitFor();
  await shot(a.page, "login");
  await register(a.page, srv.url, "alice", "alice-secret-1");
  await register(b.page, srv.url, "bob", "bob-secret-12");
  assert.equal(await textOf(b.page, "balance"), "₹0.00");

  // On SQLite, a deposit by another process (`offpay admin`) is not pushed live (docs/OPERATIONS.md):
  // the page shows it on reload (depositAndReload).
  await depositAndReload(a.page, srv, "alice", "1000.00");
  await shot(a.page, "home");

  await a.page.getByRole("link", { name: "Send" }).click();
  await a.page.getByRole("heading", { name: "Send money" }).waitFor();
  await a.page.getByLabel("To").fill("bob");
  await a.page.getByLabel("Amount").fill("250.00");
  await shot(a.page, "send");
  await a.page.getByRole("button", { name: "Send" }).click();
  await a.page.getByRole("button", { name: "Confirm" }).waitFor();
  await shot(a.page, "send-confirm");
  await a.page.getByRole("button", { name: "Confirm" }).click();
  await a.page.getByRole("heading", { name: "Payment successful" }).waitFor();
  assert.match(await textOf(a.page, "result-summary"), /₹250\.00 sent to bob\. Your balance is now ₹750\.00/);
  await shot(a.page, "payment-successful");

  // Bob's page was not reloaded: the WebSocket event changes it.
  await waitText(b.page, '[data-testid="balance"]', "₹250.00");
  await waitText(b.page, "#notice", "₹250.00 received from alice.");
  await waitText(b.page, ".activity", "From alice");
  await shot(b.page, "home-live-update");

  await a.page.getByRole("link", { name: "Done" }).click();
  await a.page.getByRole("link", { name: "History" }).click();
  await a.page.getByRole("heading", { name: "History" }).waitFor();
  await waitText(a.page, ".activity", "To bob");
  assert.match(await a.page.locator(".activity").textContent(), /-₹250\.00/);
  await shot(a.page, "history");

  // Log out, then log in again with the keyboard only: the heading takes focus, Tab reaches
  // Username then Password, Enter logs in; the balance is the server's.
  await a.page.getByRole("button", { name: "Log out" }).click();
  await a.page.getByRole("heading", { name: "Log in to offpay" }).waitFor();
  await a.page.waitForFunction(() => document.activeElement?.tagName === "H1");
  await a.page.keyboard.press("Tab");
  assert.ok(await a.page.getByLabel("Username").evaluate((el) => el === document.activeElement));
  await a.page.keyboard.type("alice");
  await a.page.keyboard.press("Tab");
  assert.ok(await a.page.getByLabel("Password").evaluate((el) => el === document.activeElement));
  await a.page.keyboard.type("alice-secret-1");
  await a.page.keyboard.press("Enter");
  await a.page.getByRole("heading", { name: "Home" }).waitFor();
  await waitText(a.page, '[data-testid="balance"]', "₹750.00");

  assert.deepEqual(a.errors, []);
  assert.deepEqual(b.errors, []);
  await a.context.close();
  await b.context.close();
});

test("online: a payment the balance cannot cover shows Payment failed with the reason", async () => {
  const c = await phone(browser);
  await register(c.page, srv.url, "carol", "carol-secret-1");
  await c.page.getByRole("link", { name: "Send" }).click();

  // A mistake in the form is tied to its field: aria-invalid, and the message as its description.
  const to = c.page.getByLabel("To");
  const amount = c.page.getByLabel("Amount");
  const described = (field) => field.evaluate((el) => [el.getAttribute("aria-invalid"),
    document.getElementById(el.getAttribute("aria-describedby"))?.textContent ?? null]);
  await to.fill("alice");
  await amount.fill("5.001");
  await c.page.getByRole("button", { name: "Send" }).click();
  await c.page.waitForFunction(() => document.querySelector('input[name="amount"]')?.getAttribute("aria-invalid") === "true");
  assert.deepEqual(await described(amount), ["true", "Use at most 2 digits after the point."]);
  assert.deepEqual(await described(to), [null, ""]);
  assert.ok(await amount.evaluate((el) => el === document.activeElement), "focus goes to the field to fix");

  await to.fill("alice");
  await amount.fill("5.00");
  await c.page.getByRole("button", { name: "Send" }).click();
  await c.page.getByRole("button", { name: "Confirm" }).click();
  await c.page.getByRole("heading", { name: "Payment failed" }).waitFor();
  assert.equal(await textOf(c.page, "failure-reason"), "Reason: Not enough money in your balance.");
  await shot(c.page, "payment-failed");
  // The browser itself logs the refused transfer's 422 answer; nothing else may be logged.
  assert.deepEqual(c.errors.filter((e) => !/status of 422 .*\/v1\/transfers\)$/.test(e)), []);
  await c.context.close();
});
