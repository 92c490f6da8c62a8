// End-to-end in Chromium against the real `offpay serve`: a shop card (docs/PROTOCOL.md 16) paid
// from two phones (two browser contexts). Bob's phone is the shop ("Chai Corner"): it makes its
// card (#/shop/card: QR code, Print, Download PNG) and keeps Shop mode (#/shop) open. Alice pays it
// online (the shop does nothing: its screen announces the payment live and today's takings
// change), then with both phones offline from her purse (the shop scans her payment code once);
// a tap finished after a reload signs one note; back online both settle and the server moved the
// money once. A second note reusing the first
// note's nonce and a note made for another card of Bob's account are refused at the counter with
// their reasons. The taps and scans of each side are counted, printed and held to issue 14's
// limits: the customer scans, types the amount, (types the PIN,) confirms; the shop scans once
// offline and not at all online. Pasting a code and pressing its button stands for a camera scan
// (which submits by itself: e2e/scan.test.js).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createHash, createPrivateKey, createPublicKey, sign as nodeSign } from "node:crypto";
import {
  startServerAndBrowser, stopServerAndBrowser, backOnline, enterPin, loadPurse, logIn, phone, register, registerWithDeposit, shot, textOf, waitText,
} from "../harness.js";
import { encodeCard, fromText, signObject, toText } from "../../public/js/protocol/objects.js";
import { REASONS, RECEIPT_REASONS } from "../../public/js/protocol/accept.js";

let srv;
let browser;
before(async () => { ({ srv, browser } = await startServerAndBrowser()); });
after(() => stopServerAndBrowser({ srv, browser }));

/** GET /v1/me with the session of the user logged in on `page`. */
async function me(page) {
  const token = await page.evaluate(() => JSON.parse(localStorage.getItem("offpay.session") ?? "null")?.token);
  const r = await fetch(`${srv.url}/v1/me`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(r.status, 200);
  return r.json();
}

/** A new Ed25519 private key from a label (not an issuer key, so whatever it signs is a forgery). */
function keyFrom(label) {
  const seed = createHash("sha256").update(label).digest();
  return createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]), format: "der", type: "pkcs8" });
}

/**
 * A shop's second counter: another phone signed in to the shop's account `handle`, which makes
 * its own card "Chai Corner". Returns the phone and the card's text.
 */
async function secondCounter(handle, password) {
  const second = await phone(browser);
  await second.page.goto(`${srv.url}/`);
  await second.page.getByRole("heading", { name: "Log in to offpay" }).waitFor();
  await logIn(second.page, handle, password);
  await second.page.getByRole("link", { name: "Shop card" }).click();
  await second.page.getByLabel("Shop name").fill("Chai Corner");
  await second.page.getByRole("button", { name: "Make card" }).click();
  await second.page.getByRole("img", { name: "Shop card of Chai Corner: scan to pay" }).waitFor();
  const secondCard = await second.page.getByRole("textbox", { name: "Shop card text", includeHidden: true }).inputValue();
  return { second, secondCard };
}

/** Taps and scans of one side, printed at the end. */
const counter = () => ({ scans: 0, amounts: 0, pins: 0, taps: 0 });

/** The customer on Pay: "scans" `cardText` (pasted, then Pay), types `amount` and the PIN if asked, confirms. */
async function payCard(page, cardText, amount, count, { pin = false, onForm } = {}) {
  await page.getByRole("link", { name: "offpay home" }).click();
  await page.getByRole("link", { name: "Pay", exact: true }).click();
  await page.getByRole("heading", { name: "Pay", exact: true }).waitFor();
  // "Shop card" when the customer has no open purse (only cards can be paid then), else "Payment request".
  await page.getByRole("textbox", { name: /^(Payment request|Shop card)$/ }).fill(cardText);
  await page.getByRole("button", { name: "Pay", exact: true }).click();
  count.scans += 1;
  const group = page.getByRole("group", { name: "Pay Chai Corner" });
  await group.waitFor();
  await group.getByLabel("Amount").fill(amount);
  count.amounts += 1;
  if (pin) { await enterPin(page); count.pins += 1; }
  await onForm?.(page);
  await group.getByRole("button", { name: "Confirm" }).click();
  count.taps += 1;
}

test("shop card: paid online (announced live, takings), paid offline with one scan, settled once; replays and other cards refused", async () => {
  const shop = await phone(browser, { acceptDownloads: true });
  const cust = await phone(browser);
  const shopCount = counter();
  const custCount = counter();
  await register(shop.page, srv.url, "chai", "chai-secret-1");
  await registerWithDeposit(cust.page, srv, "alice", "alice-secret-1", "1000.00");

  // The shop makes its card: a bad name is refused on the field, then "Chai Corner".
  await shop.page.getByRole("link", { name: "Shop card" }).click();
  await shop.page.getByRole("heading", { name: "Shop card" }).waitFor();
  await shop.page.getByLabel("Shop name").fill(" Chai Corner");
  await shop.page.getByRole("button", { name: "Make card" }).click();
  await waitText(shop.page, ".error", "A shop name is 1 to 48 bytes");
  await shop.page.getByLabel("Shop name").fill("Chai Corner");
  await shop.page.getByRole("button", { name: "Make card" }).click();
  await shop.page.getByRole("img", { name: "Shop card of Chai Corner: scan to pay" }).waitFor();
  assert.equal(await textOf(shop.page, "shop-name"), "Chai Corner");
  const cardText = await shop.page.getByRole("textbox", { name: "Shop card text", includeHidden: true }).inputValue();
  assert.match(cardText, /^OPS1:[0-9A-Z $%*+\-./:]+$/);
  await shot(shop.page, "shop-card");
  // Download PNG saves a PNG named after the shop; printing shows the card only.
  const [download] = await Promise.all([shop.page.waitForEvent("download"), shop.page.getByRole("link", { name: "Download PNG" }).click()]);
  assert.equal(download.suggestedFilename(), "offpay-card-chai-corner.png");
  const png = readFileSync(await download.path());
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  await shop.page.emulateMedia({ media: "print" });
  assert.equal(await shop.page.locator("header.bar").isVisible(), false);
  assert.equal(await shop.page.getByRole("button", { name: "Print" }).isVisible(), false);
  assert.equal(await shop.page.getByTestId("shop-card").isVisible(), true);
  await shop.page.emulateMedia({ media: "screen" });

  // The shop opens Shop mode and leaves it.
  await shop.page.getByRole("link", { name: "Shop mode" }).click();
  await shop.page.getByRole("heading", { name: "Shop mode" }).waitFor();
  await waitText(shop.page, '[data-testid="today-total"]', "₹0.00");
  await shop.page.getByTestId("takings-chart").locator("canvas").waitFor();

  // The shop's second counter: another phone on the same account, with its own card, in Shop mode.
  const { second } = await secondCounter("chai", "chai-secret-1");
  await second.page.getByRole("link", { name: "Shop mode" }).click();
  await second.page.getByRole("heading", { name: "Shop mode" }).waitFor();

  // 1. Both online: Alice pays 250.00; the shop's screen announces it with no tap there.
  await payCard(cust.page, cardText, "250.00", custCount, { onForm: (p) => shot(p, "shop-pay-amount") });
  const confirmedAt = Date.now();
  // Printed, not asserted (no timing assertions in tests): how long after the customer's Confirm
  // the shop's screen said it.
  const announced = waitText(shop.page, '[data-testid="announcement"]', "₹250.00 received from alice")
    .then(() => console.log(`online: the shop's screen announced the payment ${Date.now() - confirmedAt} ms after the customer's Confirm`));
  await cust.page.getByRole("heading", { name: "Payment successful" }).waitFor();
  assert.match(await textOf(cust.page, "result-summary"), /^Paid ₹250\.00 to Chai Corner\. Your balance is now ₹750\.00\./);
  await shot(cust.page, "shop-paid-online");
  await announced;
  await waitText(shop.page, '[data-testid="today-total"]', "₹250.00");
  // The second counter hears of it (its takings grow) but does not announce it: the payment was
  // made at the first counter's card, and a second customer must not claim it there.
  await waitText(second.page, '[data-testid="today-total"]', "₹250.00");
  assert.equal(await second.page.getByTestId("announcement").count(), 0, "announced at the other counter too");
  assert.deepEqual(second.errors, []);
  await second.context.close();
  assert.equal(await textOf(shop.page, "today-count"), "1 payment");
  // The chart's label sums the 30 days: redrawn after the payment.
  await shop.page.waitForFunction(() => document.querySelector('[data-testid="takings-chart"]')?.getAttribute("aria-label")?.endsWith("₹250.00 in total"));
  await shot(shop.page, "shop-mode");
  await shop.page.getByTestId("takings-chart").scrollIntoViewIfNeeded();
  await shot(shop.page, "shop-mode-chart");
  console.log(`online: customer ${JSON.stringify(custCount)}, shop ${JSON.stringify(shopCount)}`);
  assert.ok(custCount.scans <= 1 && custCount.amounts <= 1 && custCount.taps <= 1, "customer: scan + amount + confirm");
  assert.deepEqual(shopCount, counter(), "the shop does nothing for an online payment");
  // The customer's success screen also shows a receipt for the shop; shown at this counter after
  // the payment was announced here, it is refused: the payment is taken once, not twice.
  const receipt = await cust.page.getByRole("textbox", { name: "Receipt for the shop" }).inputValue();
  await shop.page.evaluate(() => { location.hash = "#/accept"; });
  await shop.page.getByRole("textbox", { name: "Payment note" }).fill(receipt);
  await shop.page.getByRole("button", { name: "Accept" }).click();
  await shop.page.getByRole("heading", { name: "Payment failed" }).waitFor();
  assert.equal(await textOf(shop.page, "failure-reason"), `Reason: ${REASONS.receipt_replayed}`);
  await shop.page.evaluate(() => { location.hash = "#/shop"; });
  await shop.page.getByRole("heading", { name: "Shop mode" }).waitFor();

  // CSV export of today: the payment with its entry id.
  const [csvFile] = await Promise.all([shop.page.waitForEvent("download"), shop.page.getByRole("button", { name: "Export CSV" }).click()]);
  const csv = readFileSync(await csvFile.path(), "utf8").split("\r\n");
  assert.equal(csv[0], "date,time,amount,from,entry id,note id");
  assert.match(csv[1], /^\d{4}-\d\d-\d\d,\d\d:\d\d:\d\d,250\.00,alice,\d+,$/);
  await waitText(shop.page, '[data-testid="csv-status"]', "1 payment exported.");

  // 2. Alice loads a purse; both phones go offline.
  await cust.page.getByRole("link", { name: "offpay home" }).click();
  await loadPurse(cust.page, "500.00", { balanceAfter: "₹250.00" });
  await cust.context.setOffline(true);
  await shop.context.setOffline(true);
  await cust.page.getByRole("heading", { name: "Offline" }).waitFor();
  await waitText(shop.page, "#net-status", "Offline");
  const offlineCount = counter();
  const offlineShop = counter();
  await payCard(cust.page, cardText, "120.00", offlineCount, { pin: true, onForm: (p) => shot(p, "shop-pay-offline") });
  await cust.page.getByRole("heading", { name: "Show this to the shop" }).waitFor();
  assert.equal(await textOf(cust.page, "card-paid"), "You paid ₹120.00 to Chai Corner from your offline purse. Let the shop scan this code.");
  const noteText = await cust.page.getByRole("textbox", { name: "Payment note" }).inputValue();
  assert.match(noteText, /^OPN1:/);
  await shot(cust.page, "shop-card-note");
  // A reload does not pay again: the offline balance dropped once.
  await cust.page.reload();
  await cust.page.getByRole("link", { name: "offpay home" }).click();
  await waitText(cust.page, '[data-testid="offline-balance"]', "₹380.00");

  // A tap whose page closed before its note was stored (the tap is kept first): after a reload,
  // Pay offers to finish it, and finishing it twice signs one note.
  await cust.page.evaluate(async (card) => {
    const shop = await import("/js/offline/shop.js");
    await shop.beginCardPayment("alice", card, 500);
  }, cardText);
  await cust.page.reload();
  await cust.page.getByRole("link", { name: "Pay", exact: true }).click();
  const unfinished = cust.page.getByRole("group", { name: "Unfinished card payment" });
  await unfinished.waitFor();
  assert.match(await unfinished.textContent(), /Your payment of ₹5\.00 to Chai Corner was confirmed/);
  await unfinished.getByRole("button", { name: "Finish payment" }).click();
  await cust.page.getByRole("heading", { name: "Show this to the shop" }).waitFor();
  const tapNote = await cust.page.getByRole("textbox", { name: "Payment note" }).inputValue();
  const again = await cust.page.evaluate(async () => {
    const shop = await import("/js/offline/shop.js");
    return shop.unfinishedCardPayment("alice");
  });
  assert.equal(again, null, "the finished tap is gone");
  // The same tap run twice (two tabs, or a retry): one note, the second run shows it again.
  const twice = await cust.page.evaluate(async (card) => {
    const shop = await import("/js/offline/shop.js");
    const tap = await shop.beginCardPayment("alice", card, 100);
    const first = await shop.payCard("alice", tap);
    const second = await shop.payCard("alice", tap);
    return { first: first.repeated, second: second.repeated, same: first.text === second.text, text: first.text };
  }, cardText);
  assert.deepEqual([twice.first, twice.second, twice.same], [false, true, true]);
  await cust.page.getByRole("link", { name: "offpay home" }).click();
  await waitText(cust.page, '[data-testid="offline-balance"]', "₹374.00");

  // The shop (Shop mode, offline) scans the code once.
  await shop.page.getByRole("textbox", { name: "Payment note" }).fill(noteText);
  await shop.page.getByRole("button", { name: "Accept", exact: true }).click();
  offlineShop.scans += 1;
  await waitText(shop.page, '[data-testid="announcement"]', "₹120.00 received from account");
  await waitText(shop.page, '[data-testid="today-total"]', "₹370.00");
  await shop.page.evaluate(() => window.scrollTo(0, 0));
  await shot(shop.page, "shop-mode-offline");
  await shop.page.getByRole("textbox", { name: "Payment note" }).fill(tapNote);
  await shop.page.getByRole("button", { name: "Accept", exact: true }).click();
  // The field empties when a payment is taken: wait for it before the next code.
  await waitText(shop.page, '[data-testid="today-total"]', "₹375.00");
  await shop.page.getByRole("textbox", { name: "Payment note" }).fill(twice.text);
  await shop.page.getByRole("button", { name: "Accept", exact: true }).click();
  await waitText(shop.page, '[data-testid="today-total"]', "₹376.00");
  console.log(`offline: customer ${JSON.stringify(offlineCount)}, shop ${JSON.stringify(offlineShop)}`);
  assert.ok(offlineCount.scans <= 1 && offlineCount.amounts <= 1 && offlineCount.pins <= 1 && offlineCount.taps <= 1, "customer: scan + amount + PIN + confirm");
  assert.ok(offlineShop.scans <= 1 && offlineShop.taps === 0, "the shop scans once");

  // The same note again on Accept: already received, nothing more.
  await shop.page.evaluate(() => { location.hash = "#/accept"; });
  await shop.page.getByRole("textbox", { name: "Payment note" }).fill(noteText);
  await shop.page.getByRole("button", { name: "Accept" }).click();
  await shop.page.getByRole("heading", { name: "Already received" }).waitFor();

  // A second note with the first note's nonce (a payer replaying the payment code): refused.
  const replay = await cust.page.evaluate(async (first) => {
    const { fromText, signObject, toText: text, hashOf } = await import("/js/protocol/objects.js");
    const { allFor } = await import("/js/offline/db.js");
    const { deviceKey, sign } = await import("/js/offline/device.js");
    const purse = (await allFor("purses", "alice"))[0];
    const cert = fromText("certificate", purse.certText);
    const key = await deviceKey("alice");
    const old = fromText("note", first);
    const note = await signObject("note", {
      certificate: cert, seq: purse.seq + 1, prevHash: purse.lastHash, cumulative: purse.spent + 100, amount: 100, payee: old.payee,
      nonce: old.nonce, time: BigInt(Math.floor(Date.now() / 1000)),
    }, (b) => sign(key, b));
    void hashOf;
    return text(note);
  }, noteText);
  await shop.page.evaluate(() => { location.hash = "#/accept"; });
  await shop.page.getByRole("textbox", { name: "Payment note" }).fill(replay);
  await shop.page.getByRole("button", { name: "Accept" }).click();
  await shop.page.getByRole("heading", { name: "Payment failed" }).waitFor();
  assert.equal(await textOf(shop.page, "failure-reason"), `Reason: ${REASONS.nonce_replayed}`);

  // 3. Back online: both phones settle by themselves; the server moved the money once.
  await backOnline(cust, shop);
  await waitText(shop.page, '[data-testid="balance"]', "₹376.00");
  for (const p of [cust.page, shop.page]) {
    await p.goto(`${srv.url}/#/sync`);
    await waitText(p, '[data-testid="sync-summary"]', "Everything is settled.");
  }
  const shopMe = await me(shop.page);
  const custMe = await me(cust.page);
  assert.equal(shopMe.balance, 37600);
  assert.equal(custMe.balance, 25000);

  // 4. A note for another card of the shop's account (an old card, or another device's): refused at the counter.
  const seed = createHash("sha256").update("offpay-e2e/other-card").digest();
  const priv = createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]), format: "der", type: "pkcs8" });
  const pub = new Uint8Array(Buffer.from(createPublicKey(priv).export({ format: "jwk" }).x, "base64url"));
  const other = toText(await encodeCard({
    payee: BigInt(shopMe.account), shopDeviceKey: pub, currency: "INR", issuedAt: 1767225600n, handle: null, name: "Chai Corner",
  }, async (b) => new Uint8Array(nodeSign(null, b, priv))));
  await payCard(cust.page, other, "10.00", counter(), { pin: true });
  await cust.page.getByRole("heading", { name: "Show this to the shop" }).waitFor();
  const otherNote = await cust.page.getByRole("textbox", { name: "Payment note" }).inputValue();
  await shop.page.evaluate(() => { location.hash = "#/accept"; });
  await shop.page.getByRole("textbox", { name: "Payment note" }).fill(otherNote);
  await shop.page.getByRole("button", { name: "Accept" }).click();
  await shop.page.getByRole("heading", { name: "Payment failed" }).waitFor();
  assert.equal(await textOf(shop.page, "failure-reason"), `Reason: ${REASONS.wrong_card}`);
  await shot(shop.page, "shop-wrong-card");

  assert.deepEqual(shop.errors, []);
  assert.deepEqual(cust.errors, []);
  await shop.context.close();
  await cust.context.close();
});

test("shop card: customer online, shop offline: the server's receipt is scanned once and checked with no connection; replayed, another counter's, another shop's and forged receipts refused", async () => {
  const shop = await phone(browser);
  const cust = await phone(browser);
  const shopCount = counter();
  const custCount = counter();
  await register(shop.page, srv.url, "teastall", "tea-secret-1");
  await registerWithDeposit(cust.page, srv, "ravi", "ravi-secret-1", "500.00");
  await shop.page.getByRole("link", { name: "Shop card" }).click();
  await shop.page.getByLabel("Shop name").fill("Chai Corner");
  await shop.page.getByRole("button", { name: "Make card" }).click();
  const cardText = await shop.page.getByRole("textbox", { name: "Shop card text", includeHidden: true }).inputValue();
  // The shop's phone cached the issuer keys while online (as it does on every start), then loses its connection.
  await shop.page.evaluate(async () => (await import("/js/offline/wallet.js")).refreshKeys());
  await shop.page.getByRole("link", { name: "Shop mode" }).click();
  await shop.page.getByRole("heading", { name: "Shop mode" }).waitFor();
  await shop.context.setOffline(true);
  await waitText(shop.page, "#net-status", "Offline");

  // The customer is online: scan, amount, confirm; the success screen shows the signed receipt.
  await payCard(cust.page, cardText, "80.00", custCount);
  await cust.page.getByRole("heading", { name: "Payment successful" }).waitFor();
  await cust.page.getByTestId("shop-receipt").waitFor();
  await cust.page.getByRole("img", { name: "QR code of the receipt for ₹80.00" }).waitFor();
  const receipt = await cust.page.getByRole("textbox", { name: "Receipt for the shop" }).inputValue();
  assert.match(receipt, /^OPT2:/);
  await shot(cust.page, "shop-receipt");

  // The shop's second counter (another phone signed in to the same account, with its own card),
  // offline too, never saw this payment: it still refuses the receipt, which names the first
  // counter's card, so one payment cannot be shown at two counters.
  const { second, secondCard } = await secondCounter("teastall", "tea-secret-1");
  assert.notEqual(secondCard, cardText);
  await second.page.evaluate(async () => (await import("/js/offline/wallet.js")).refreshKeys());
  await second.context.setOffline(true);
  await second.page.evaluate(() => { location.hash = "#/accept"; });
  await second.page.getByRole("textbox", { name: "Payment note" }).fill(receipt);
  await second.page.getByRole("button", { name: "Accept" }).click();
  await second.page.getByRole("heading", { name: "Payment failed" }).waitFor();
  assert.equal(await textOf(second.page, "failure-reason"), `Reason: ${RECEIPT_REASONS.wrong_card}`);
  assert.deepEqual(second.errors, []);
  await second.context.close();

  // The shop, offline, scans it once: announced, no server asked.
  await shop.page.getByRole("textbox", { name: "Payment note" }).fill(receipt);
  await shop.page.getByRole("button", { name: "Accept", exact: true }).click();
  shopCount.scans += 1;
  await waitText(shop.page, '[data-testid="announcement"]', "₹80.00 received from ravi");
  console.log(`customer online, shop offline: customer ${JSON.stringify(custCount)}, shop ${JSON.stringify(shopCount)}`);
  assert.ok(custCount.scans <= 1 && custCount.amounts <= 1 && custCount.taps <= 1, "customer: scan + amount + confirm");
  assert.ok(shopCount.scans <= 1 && shopCount.taps === 0, "the shop scans once");

  const refusedAtCounter = async (text, reason) => {
    await shop.page.evaluate(() => { location.hash = "#/accept"; });
    await shop.page.getByRole("textbox", { name: "Payment note" }).fill(text);
    await shop.page.getByRole("button", { name: "Accept" }).click();
    await shop.page.getByRole("heading", { name: "Payment failed" }).waitFor();
    assert.equal(await textOf(shop.page, "failure-reason"), `Reason: ${REASONS[reason]}`);
  };
  // The same receipt again (a customer showing it twice): refused.
  await refusedAtCounter(receipt, "receipt_replayed");
  // A receipt of a payment to another shop: refused.
  const token = await cust.page.evaluate(() => JSON.parse(localStorage.getItem("offpay.session")).token);
  await fetch(`${srv.url}/v1/register`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ handle: "othershop", password: "other-secret-1" }) });
  const paid = await fetch(`${srv.url}/v1/transfers`, {
    method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}`, "idempotency-key": "e2e-other-shop-0001" },
    body: JSON.stringify({ to: "othershop", amount: 1000 }),
  });
  assert.equal(paid.status, 201);
  const entry = (await paid.json()).transfer.entry_id;
  const other = await fetch(`${srv.url}/v1/receipts/${entry}`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(other.status, 200);
  await refusedAtCounter((await other.json()).receipt, "receipt_for_another_payee");
  // A receipt whose amount was raised and signed again with a key that is no issuer key: refused.
  const original = fromText("receipt", receipt);
  const forgerKey = keyFrom("offpay-e2e/forger");
  const forged = toText(await signObject("receipt", { ...original, entryId: original.entryId + 1000n, amount: original.amount * 10 },
    async (b) => new Uint8Array(nodeSign(null, b, forgerKey))));
  await refusedAtCounter(forged, "bad_receipt_signature");

  // A forged card: the shop's account and name, but another user's handle. Online the wallet pays
  // a card's handle; it names the card's account too, so the server refuses (payee_mismatch)
  // before any money moves.
  const shopMe = await me(shop.page);
  const cardForger = keyFrom("offpay-e2e/card-forger");
  const forgerPub = new Uint8Array(Buffer.from(createPublicKey(cardForger).export({ format: "jwk" }).x, "base64url"));
  const forgedCard = toText(await encodeCard({
    payee: BigInt(shopMe.account), shopDeviceKey: forgerPub, currency: "INR", issuedAt: 1767225600n, handle: "othershop", name: "Chai Corner",
  }, async (b) => new Uint8Array(nodeSign(null, b, cardForger))));
  const before = (await me(cust.page)).balance;
  await payCard(cust.page, forgedCard, "5.00", counter());
  await cust.page.getByRole("heading", { name: "Payment failed" }).waitFor();
  assert.match(await textOf(cust.page, "failure-reason"), /belongs to someone other than the account it names\. Nothing was paid/);
  assert.equal((await me(cust.page)).balance, before, "nothing moved");
  // The browser logs the refused request (its 422) as a failed resource load; nothing else.
  const refused = cust.errors.filter((e) => /status of 422 .*\/v1\/transfers/.test(e));
  assert.equal(refused.length, 1, JSON.stringify(cust.errors));

  assert.deepEqual(shop.errors, []);
  assert.deepEqual(cust.errors.filter((e) => !refused.includes(e)), []);
  await shop.context.close();
  await cust.context.close();
});
