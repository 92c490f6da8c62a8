// End-to-end in Chromium against the real `offpay serve`: a payment Shop mode took from the
// customer's receipt while the shop had no connection is announced once. The shop reloads before
// its connection returns (the announcements kept in memory are gone), then the live `money_in`
// event of that payment arrives: the payment was already taken, so it is not announced again;
// the next payment is.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServerAndBrowser, stopServerAndBrowser, phone, register, registerWithDeposit, waitText } from "../harness.js";

let srv;
let browser;
before(async () => { ({ srv, browser } = await startServerAndBrowser()); });
after(() => stopServerAndBrowser({ srv, browser }));

/** The customer on `page` pays the card `cardText` (shop name `name`) `amount` online; ends on the success screen. */
async function payOnline(page, cardText, name, amount) {
  await page.evaluate(() => { location.hash = "#/pay"; });
  await page.getByRole("textbox", { name: /^(Payment request|Shop card)$/ }).fill(cardText);
  await page.getByRole("button", { name: "Pay", exact: true }).click();
  const group = page.getByRole("group", { name: `Pay ${name}` });
  await group.getByLabel("Amount").fill(amount);
  await group.getByRole("button", { name: "Confirm" }).click();
  await page.getByRole("heading", { name: "Payment successful" }).waitFor();
}

test("a payment taken from its receipt offline is not announced again when its live event arrives after a reload", async () => {
  const shop = await phone(browser);
  const cust = await phone(browser);
  await register(shop.page, srv.url, "tulsi", "tulsi-secret-1");
  await registerWithDeposit(cust.page, srv, "cyrus", "cyrus-secret-1", "200.00");
  await shop.page.getByRole("link", { name: "Shop card" }).click();
  await shop.page.getByLabel("Shop name").fill("Tulsi Tea");
  await shop.page.getByRole("button", { name: "Make card" }).click();
  const cardText = await shop.page.getByRole("textbox", { name: "Shop card text", includeHidden: true }).inputValue();
  await shop.page.evaluate(async () => (await import("/js/offline/wallet.js")).refreshKeys());
  await shop.page.getByRole("link", { name: "Shop mode" }).click();
  await shop.page.getByRole("heading", { name: "Shop mode" }).waitFor();
  // A plain transfer first (not at the counter): the shop's phone has seen an event, so its live
  // connection resumes from it after the reload (a phone that saw none gets only new events).
  const token = await cust.page.evaluate(() => JSON.parse(localStorage.getItem("offpay.session")).token);
  const sent = await fetch(`${srv.url}/v1/transfers`, {
    method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}`, "idempotency-key": "e2e-shop-reload-0001" },
    body: JSON.stringify({ to: "tulsi", amount: 100 }),
  });
  assert.equal(sent.status, 201);
  await waitText(shop.page, "#notice", "₹1.00 received from cyrus.");
  await shop.context.setOffline(true);
  await waitText(shop.page, "#net-status", "Offline");

  // The customer pays online; the shop, offline, takes the receipt: announced.
  await payOnline(cust.page, cardText, "Tulsi Tea", "80.00");
  const receipt = await cust.page.getByRole("textbox", { name: "Receipt for the shop" }).inputValue();
  await shop.page.getByRole("textbox", { name: "Payment note" }).fill(receipt);
  await shop.page.getByRole("button", { name: "Accept", exact: true }).click();
  await waitText(shop.page, '[data-testid="announcement"]', "₹80.00 received from cyrus");

  // Reloaded with no connection, then back online: the payment's live event arrives.
  await shop.page.reload();
  await shop.page.getByRole("heading", { name: "Shop mode" }).waitFor();
  await waitText(shop.page, '[data-testid="announcements"]', "Waiting for payments.");
  await shop.context.setOffline(false);
  await waitText(shop.page, "#notice", "₹80.00 received from cyrus.");

  // The next payment is announced; the first is not announced a second time.
  await payOnline(cust.page, cardText, "Tulsi Tea", "5.00");
  await waitText(shop.page, '[data-testid="announcement"]', "₹5.00 received from cyrus");
  const said = await shop.page.getByTestId("announcements").locator("p").allTextContents();
  assert.deepEqual(said, ["₹5.00 received from cyrus"]);

  assert.deepEqual(shop.errors.filter((e) => !/Failed to load resource|ERR_INTERNET_DISCONNECTED|WebSocket/.test(e)), []);
  assert.deepEqual(cust.errors, []);
  await shop.context.close();
  await cust.context.close();
});
