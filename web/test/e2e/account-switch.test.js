// End-to-end in Chromium against the real `offpay serve`: two people use one phone, one after the
// other, in the same tab (no reload in between). What the app keeps in memory for the first (the
// history entries behind receipts, the last payment's outcome, Shop mode's announcements) goes at
// logout: the second cannot open the first's receipt by its address, sees no outcome of the
// first's payment and no announcement of the first's shop.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServerAndBrowser, stopServerAndBrowser, phone, registerWithDeposit, waitText } from "../harness.js";

let srv;
let browser;
before(async () => { ({ srv, browser } = await startServerAndBrowser()); });
after(() => stopServerAndBrowser({ srv, browser }));

/** Opens `hash` in the app on `page` (no reload). */
const open = (page, hash) => page.evaluate((h) => { location.hash = h; }, hash);

/** Opens `hash` and returns the page's heading once it is one of `headings`. */
async function openAndRead(page, hash, headings) {
  await open(page, hash);
  const h1 = await page.waitForFunction((names) => {
    const text = document.querySelector("#view h1")?.textContent;
    return names.includes(text) && text;
  }, headings);
  return h1.jsonValue();
}

test("after a logout, the next person in the same tab sees nothing of the one before", async () => {
  const a = await phone(browser);
  const cust = await phone(browser);
  await registerWithDeposit(a.page, srv, "anya", "anya-secret-1", "100.00");
  await registerWithDeposit(cust.page, srv, "cara", "cara-secret-1", "100.00");

  // Anya's History lists her deposit (kept in memory behind its receipt).
  await a.page.getByRole("link", { name: "History" }).click();
  await a.page.getByRole("heading", { name: "History" }).waitFor();
  await a.page.getByRole("link", { name: /Deposit/ }).first().click();
  await a.page.getByTestId("receipt").waitFor();
  const receiptHash = await a.page.evaluate(() => location.hash);
  assert.match(receiptHash, /^#\/receipt\?id=entry%3A\d+$|^#\/receipt\?id=entry:\d+$/);

  // Her shop card, paid online by Cara while Shop mode is open: announced.
  await open(a.page, "#/shop/card");
  await a.page.getByLabel("Shop name").fill("Anya Snacks");
  await a.page.getByRole("button", { name: "Make card" }).click();
  const cardText = await a.page.getByRole("textbox", { name: "Shop card text", includeHidden: true }).inputValue();
  await a.page.getByRole("link", { name: "Shop mode" }).click();
  await a.page.getByRole("heading", { name: "Shop mode" }).waitFor();
  await open(cust.page, "#/pay");
  await cust.page.getByRole("textbox", { name: /^(Payment request|Shop card)$/ }).fill(cardText);
  await cust.page.getByRole("button", { name: "Pay", exact: true }).click();
  const group = cust.page.getByRole("group", { name: "Pay Anya Snacks" });
  await group.getByLabel("Amount").fill("7.00");
  await group.getByRole("button", { name: "Confirm" }).click();
  await cust.page.getByRole("heading", { name: "Payment successful" }).waitFor();
  await waitText(a.page, '[data-testid="announcement"]', "₹7.00 received from cara");

  // Anya sends 5.00: the outcome screen.
  await open(a.page, "#/send");
  // Shop mode's own "To" date field is on screen until Send has drawn.
  await a.page.getByRole("heading", { name: "Send money" }).waitFor();
  await a.page.getByLabel("To", { exact: true }).fill("cara");
  await a.page.getByLabel("Amount").fill("5.00");
  await a.page.getByRole("button", { name: "Send" }).click();
  await a.page.getByRole("button", { name: "Confirm" }).click();
  await a.page.getByRole("heading", { name: "Payment successful" }).waitFor();

  // She logs out (nothing waits on the phone: at once); Bodhi registers in the same tab.
  await a.page.getByRole("button", { name: "Log out" }).click();
  await a.page.getByRole("heading", { name: "Log in to offpay" }).waitFor();
  await a.page.getByLabel("Username").fill("bodhi");
  await a.page.getByLabel("Password").fill("bodhi-secret-1");
  await a.page.getByRole("button", { name: "Register" }).click();
  await a.page.getByRole("heading", { name: "Home" }).waitFor();

  const seen = {
    receipt: await openAndRead(a.page, receiptHash, ["Receipt", "Receipt not found"]),
    result: await openAndRead(a.page, "#/result", ["Payment successful", "Nothing to show"]),
  };
  await openAndRead(a.page, "#/shop", ["Shop mode"]);
  seen.announcements = await a.page.getByTestId("announcements").locator("p").allTextContents();
  assert.deepEqual(seen, {
    receipt: "Receipt not found",
    result: "Nothing to show",
    announcements: ["Waiting for payments. Each payment is announced here as it arrives."],
  }, "Bodhi sees nothing of Anya's");

  assert.deepEqual(a.errors, []);
  assert.deepEqual(cust.errors, []);
  await a.context.close();
  await cust.context.close();
});
