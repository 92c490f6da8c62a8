// End-to-end in Chromium against the real `offpay serve`: a customer whose phone clock is 15
// minutes ahead pays a shop's card offline; the shop's counter (offline, Shop mode) refuses the
// code because the clocks are more than 10 minutes apart, keeps it, and refuses it again when it
// is scanned again. The shop's phone gives it back to the customer (`POST /v1/notes/refusals`)
// at its next sync. Either order of coming online ends with the customer charged nothing for the
// refused code: the shop first (the note is voided: the customer's upload is refused, the purse
// pays nobody), or the customer first (the note is paid to the shop, then the shop's phone moves
// it back to the customer). Balances are read from the server (`GET /v1/me`, `GET /v1/purses`).
// When the customer synced first, Shop mode's takings of the day are net of the code given back,
// and say so ("1 payment", "₹0.00", "(1 returned: ₹120.00)").
// The same for a code made for the shop's old card, which the shop replaced with a new one on the
// same phone after the customer scanned it (`wrong_card`, kept because only this phone had the
// card): the customer syncs first, the server pays the shop, and the shop's phone gives it back.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startServerAndBrowser, stopServerAndBrowser, backOnline, enterPin, loadPurse, phone, register, registerWithDeposit, shot, waitText,
} from "../harness.js";
import { REASONS } from "../../public/js/protocol/accept.js";
import { KEPT_SENTENCES, REFUSED_HERE_BEFORE } from "../../public/js/offline/counter-refusals.js";
import { SERVER_REASONS } from "../../public/js/offline/refusals.js";

let srv;
let browser;
before(async () => { ({ srv, browser } = await startServerAndBrowser()); });
after(() => stopServerAndBrowser({ srv, browser }));

/** `GET path` with the session of the user logged in on `page`. */
async function apiGet(page, path) {
  const token = await page.evaluate(() => JSON.parse(localStorage.getItem("offpay.session") ?? "null")?.token);
  const r = await fetch(`${srv.url}${path}`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(r.status, 200, path);
  return r.json();
}

/**
 * A shop `shopHandle` with its card, in Shop mode, and a customer `custHandle` with 1,000.00 of
 * which 500.00 are in an offline purse; both go offline, the customer's clock goes 15 minutes
 * ahead, and the customer pays the card 120.00 from the purse. The shop scans the code twice:
 * refused for the clocks, then as refused before. Returns {shop, cust, custAccount, noteText}.
 * With `oldCard`, the shop makes a new card after the customer took the first card's text, and
 * the customer's clock stays right: the code is refused for the shop's old card instead.
 */
async function refusedAtTheCounter(shopHandle, custHandle, { oldCard = false } = {}) {
  const shop = await phone(browser);
  const cust = await phone(browser);
  await register(shop.page, srv.url, shopHandle, `${shopHandle}-secret-1`);
  await registerWithDeposit(cust.page, srv, custHandle, `${custHandle}-secret-1`, "1000.00");
  const custAccount = (await apiGet(cust.page, "/v1/me")).account;

  await shop.page.getByRole("link", { name: "Shop card" }).click();
  await shop.page.getByLabel("Shop name").fill("Chai Corner");
  await shop.page.getByRole("button", { name: "Make card" }).click();
  await shop.page.getByRole("img", { name: "Shop card of Chai Corner: scan to pay" }).waitFor();
  const cardText = await shop.page.getByRole("textbox", { name: "Shop card text", includeHidden: true }).inputValue();
  if (oldCard) {
    // The customer has the first card's text; the shop replaces the card on the same phone.
    await shop.page.getByLabel("Shop name").fill("Chai Corner 2");
    await shop.page.getByRole("button", { name: "Make a new card" }).click();
    await shop.page.getByRole("img", { name: "Shop card of Chai Corner 2: scan to pay" }).waitFor();
    assert.notEqual(await shop.page.getByRole("textbox", { name: "Shop card text", includeHidden: true }).inputValue(), cardText);
  }
  await shop.page.evaluate(async () => (await import("/js/offline/wallet.js")).refreshKeys());
  await shop.page.getByRole("link", { name: "Shop mode" }).click();
  await shop.page.getByRole("heading", { name: "Shop mode" }).waitFor();

  await loadPurse(cust.page, "500.00");
  await cust.context.setOffline(true);
  await shop.context.setOffline(true);
  await waitText(cust.page, "#net-status", "Offline");
  await waitText(shop.page, "#net-status", "Offline");
  // The customer's phone clock is 15 minutes ahead of the shop's (more than the 10-minute window).
  if (!oldCard) await cust.page.clock.setSystemTime(new Date(Date.now() + 15 * 60_000));

  await cust.page.getByRole("link", { name: "offpay home" }).click();
  await cust.page.getByRole("link", { name: "Pay", exact: true }).click();
  await cust.page.getByRole("heading", { name: "Pay", exact: true }).waitFor();
  await cust.page.getByRole("textbox", { name: /^(Payment request|Shop card)$/ }).fill(cardText);
  await cust.page.getByRole("button", { name: "Pay", exact: true }).click();
  const group = cust.page.getByRole("group", { name: "Pay Chai Corner" });
  await group.getByLabel("Amount").fill("120.00");
  await enterPin(cust.page);
  await group.getByRole("button", { name: "Confirm" }).click();
  await cust.page.getByRole("heading", { name: "Show this to the shop" }).waitFor();
  const noteText = await cust.page.getByRole("textbox", { name: "Payment note" }).inputValue();
  assert.match(noteText, /^OPN1:/);

  // The shop scans it: refused for the clocks (or the old card), with the sentence that says it is given back.
  const form = shop.page.getByRole("form", { name: "Accept offline payment" });
  const scan = async () => {
    await form.locator(".error").evaluate((e) => { e.textContent = ""; });
    await shop.page.getByRole("textbox", { name: "Payment note" }).fill(noteText);
    await form.getByRole("button", { name: "Accept", exact: true }).click();
    await shop.page.waitForFunction(() => document.querySelector('form[aria-label="Accept offline payment"] .error')?.textContent);
    return form.locator(".error").textContent();
  };
  assert.equal(await scan(), `Not accepted. ${oldCard ? KEPT_SENTENCES.wrong_card : REASONS.stale_note}`);
  await shot(shop.page, oldCard ? "shop-old-card-note" : "shop-stale-note");
  // Scanned again: refused as refused before; nothing was taken.
  assert.equal(await scan(), `Not accepted. ${REFUSED_HERE_BEFORE}`);
  await waitText(shop.page, '[data-testid="today-total"]', "₹0.00");

  // Sync status (offline): the code waits to be given back.
  await shop.page.evaluate(() => { location.hash = "#/sync"; });
  await waitText(shop.page, '[data-testid="counter-refusals"]',
    `To return: ₹120.00 to account ${custAccount} (refused at the counter), sent at the next sync.`);
  assert.equal(await shop.page.getByTestId("sync-summary").textContent(), "1 payment(s) refused at the counter waiting to be given back.");
  if (!oldCard) await shot(shop.page, "sync-counter-refusal");
  return { shop, cust, custAccount, noteText };
}

/** `POST /v1/notes/refusals` of `noteText` with the session of `page`; the 200 answer. */
async function refuseAgain(page, noteText) {
  const token = await page.evaluate(() => JSON.parse(localStorage.getItem("offpay.session")).token);
  const r = await fetch(`${srv.url}/v1/notes/refusals`, {
    method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify({ note: noteText }),
  });
  assert.equal(r.status, 200);
  return r.json();
}

/** Waits until the page's Sync status (opened again) shows `text` in its counter refusals. */
async function syncStatusSays(page, text) {
  await page.goto(`${srv.url}/#/sync`);
  await waitText(page, '[data-testid="counter-refusals"]', text);
}

test("refused for the customer's clock, the shop syncs first: the note is voided, the customer's upload is refused, no one is paid", async () => {
  const { shop, cust, custAccount, noteText } = await refusedAtTheCounter("kiosk", "meera");

  // The shop comes online: its sync gives the code back before the customer's phone uploads it.
  await backOnline(shop);
  await syncStatusSays(shop.page,
    `Returned ₹120.00 to account ${custAccount} (refused at the counter): the server will not pay it to this shop, and the payer keeps it.`);
  await waitText(shop.page, '[data-testid="sync-summary"]', "Everything is settled.");
  await shot(shop.page, "sync-counter-refusal-returned");

  // The customer comes online: the upload is refused as refused by the shop.
  await backOnline(cust);
  await cust.page.goto(`${srv.url}/#/sync`);
  await waitText(cust.page, ".activity .refused", SERVER_REASONS.refused_by_payee);
  assert.equal(await cust.page.locator(".activity .code").first().textContent(), "Code: refused_by_payee");

  // The books: the shop has nothing; the purse paid nobody, so the customer's 1,000.00 is all
  // there (500.00 in the balance, 500.00 in the purse's reserve, which returns it on close or expiry).
  assert.equal((await apiGet(shop.page, "/v1/me")).balance, 0);
  const custMe = await apiGet(cust.page, "/v1/me");
  const [purse] = (await apiGet(cust.page, "/v1/purses")).purses;
  assert.deepEqual({ balance: custMe.balance, settled: purse.settled, held: purse.held }, { balance: 50000, settled: 0, held: 50000 });

  // The same refusal sent again straight to the server: the same answer, nothing moves.
  const again = await refuseAgain(shop.page, noteText);
  assert.deepEqual({ status: again.status, amount: again.amount, payer: again.payer }, { status: "voided", amount: 0, payer: String(custAccount) });
  assert.equal((await apiGet(shop.page, "/v1/me")).balance, 0);
  assert.equal((await apiGet(cust.page, "/v1/me")).balance, 50000);
  const kept = await shop.page.evaluate(async () => (await import("/js/offline/db.js")).allFor("refusals", "kiosk"));
  assert.deepEqual(kept.map((k) => [k.state, k.noteHash === again.note, k.done?.status, k.done?.amount]), [["done", true, "voided", 0]]);

  assert.deepEqual(shop.errors, []);
  assert.deepEqual(cust.errors, []);
  await shop.context.close();
  await cust.context.close();
});

test("refused for the customer's clock, the customer syncs first: the shop is paid, then its phone gives the money back once", async () => {
  const { shop, cust, custAccount, noteText } = await refusedAtTheCounter("teashop", "arjun");

  // The customer comes online first: the note is paid to the shop's account.
  await backOnline(cust);
  await cust.page.goto(`${srv.url}/#/sync`);
  await waitText(cust.page, '[data-testid="sync-summary"]', "Everything is settled.");
  assert.equal((await apiGet(shop.page, "/v1/me")).balance, 12000);

  // The shop comes online: its sync gives the 120.00 back from the shop's balance.
  await backOnline(shop);
  await syncStatusSays(shop.page,
    `Returned ₹120.00 to account ${custAccount} (refused at the counter): the server took it back from this shop's balance.`);
  assert.equal((await apiGet(shop.page, "/v1/me")).balance, 0);
  const custMe = await apiGet(cust.page, "/v1/me");
  const [purse] = (await apiGet(cust.page, "/v1/purses")).purses;
  // 500.00 + 120.00 given back in the balance, 380.00 still in the purse: 1,000.00, charged nothing.
  assert.deepEqual({ balance: custMe.balance, settled: purse.settled, held: purse.held }, { balance: 62000, settled: 12000, held: 38000 });

  // The same refusal sent again straight to the server: the same answer, nothing moves again.
  const answer = await refuseAgain(shop.page, noteText);
  assert.deepEqual({ status: answer.status, amount: answer.amount, payer: answer.payer }, { status: "refunded", amount: 12000, payer: String(custAccount) });
  assert.equal((await apiGet(shop.page, "/v1/me")).balance, 0);
  assert.equal((await apiGet(cust.page, "/v1/me")).balance, 62000);
  // The answer names the note as the shop's phone keyed it.
  const kept = await shop.page.evaluate(async () => (await import("/js/offline/db.js")).allFor("refusals", "teashop"));
  assert.deepEqual(kept.map((k) => [k.state, k.noteHash === answer.note, k.done?.status, k.done?.amount]), [["done", true, "refunded", 12000]]);

  // Shop mode's takings: the payment came in and went back today, so today's total is net of it
  // and says how much went back; so do the 30 days.
  await shop.page.goto(`${srv.url}/#/shop`);
  await waitText(shop.page, '[data-testid="today-returned"]', "(1 returned: ₹120.00)");
  assert.equal(await shop.page.getByTestId("today-returned").textContent(), " (1 returned: ₹120.00)");
  assert.equal(await shop.page.getByTestId("today-total").textContent(), "₹0.00");
  assert.equal(await shop.page.getByTestId("today-count").textContent(), "1 payment");
  await shop.page.waitForFunction(() => document.querySelector('[data-testid="takings-chart"]')?.getAttribute("aria-label")?.endsWith("₹0.00 in total"));

  assert.deepEqual(shop.errors, []);
  assert.deepEqual(cust.errors, []);
  await shop.context.close();
  await cust.context.close();
});

test("refused for the shop's old card, the customer syncs first: the shop is paid, then its phone gives the money back once", async () => {
  const { shop, cust, custAccount, noteText } = await refusedAtTheCounter("oldcardshop", "kavya", { oldCard: true });

  // The customer comes online first: the server pays the note to the shop (it does not look at cards).
  await backOnline(cust);
  await cust.page.goto(`${srv.url}/#/sync`);
  await waitText(cust.page, '[data-testid="sync-summary"]', "Everything is settled.");
  assert.equal((await apiGet(shop.page, "/v1/me")).balance, 12000);

  // The shop comes online: its sync gives the 120.00 back from the shop's balance.
  await backOnline(shop);
  await syncStatusSays(shop.page,
    `Returned ₹120.00 to account ${custAccount} (refused at the counter): the server took it back from this shop's balance.`);
  assert.equal((await apiGet(shop.page, "/v1/me")).balance, 0);
  const custMe = await apiGet(cust.page, "/v1/me");
  const [purse] = (await apiGet(cust.page, "/v1/purses")).purses;
  // 500.00 + 120.00 given back in the balance, 380.00 still in the purse: 1,000.00, charged nothing.
  assert.deepEqual({ balance: custMe.balance, settled: purse.settled, held: purse.held }, { balance: 62000, settled: 12000, held: 38000 });
  const kept = await shop.page.evaluate(async () => (await import("/js/offline/db.js")).allFor("refusals", "oldcardshop"));
  assert.deepEqual(kept.map((k) => [k.reason, k.state, k.done?.status, k.done?.amount, k.text === noteText]), [["wrong_card", "done", "refunded", 12000, true]]);

  assert.deepEqual(shop.errors, []);
  assert.deepEqual(cust.errors, []);
  await shop.context.close();
  await cust.context.close();
});
