// End-to-end in Chromium against the real `offpay serve`, two phones (browser contexts): no payment
// note or request is lost to a reload, and one history lists online and offline money on both
// sides. With both phones offline: Alice pays Bob and reloads before Bob scanned the note, then
// reopens it from History (receipt, "Show payment note"); she pays again and taps Done, and
// reopens that one too; Bob accepts exactly the reopened texts. Bob reloads after making a
// request: the request is shown again (also under "Open requests") and is paid. Both histories
// list each note with its state (waiting, then settled), once, online and offline; back online
// the payments settle once (balances from the server); a receipt's QR code holds the receipt.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startServerAndBrowser, stopServerAndBrowser, backOnline, depositAndReload, enterPin, loadPurse, phone, register, shot, textOf, waitText,
} from "../harness.js";

let srv;
let browser;
let a; // Alice, the payer
let b; // Bob, the payee
before(async () => { ({ srv, browser } = await startServerAndBrowser()); });
after(async () => {
  await a?.context.close();
  await b?.context.close();
  await stopServerAndBrowser({ srv, browser });
});

/** The balance the server holds for the page's logged-in user, in minor units (GET /v1/me). */
function serverBalance(page) {
  return page.evaluate(async () => {
    const s = JSON.parse(localStorage.getItem("offpay.session"));
    const r = await fetch("/v1/me", { headers: { Authorization: `Bearer ${s.token}` } });
    return (await r.json()).balance;
  });
}

/** From anywhere, Home (or the offline home), then History. */
async function openHistory(page) {
  await page.getByRole("link", { name: "offpay home" }).click();
  await page.getByRole("heading", { name: /^(Home|Offline)$/ }).waitFor();
  await page.getByRole("link", { name: "History", exact: true }).click();
  await page.getByRole("heading", { name: "History" }).waitFor();
}

/** The rows of the History list (or Home's recent activity) as their text. */
function rows(page) {
  return page.locator(".activity li").allTextContents();
}

/** Bob asks for `amount` ("120.00") on Receive; returns the request text. */
async function request(page, amount) {
  await page.getByRole("link", { name: "offpay home" }).click();
  await page.getByRole("link", { name: "Receive", exact: true }).click();
  await page.getByRole("heading", { name: "Receive" }).waitFor();
  await page.getByLabel("Amount").fill(amount);
  await page.getByRole("button", { name: "Request payment" }).click();
  await page.getByRole("heading", { name: "Payment request" }).waitFor();
  return page.getByRole("textbox", { name: "Payment request" }).inputValue();
}

/** Alice pays `requestText` on Pay and confirms; ends on "Payment note ready"; returns the note text. */
async function pay(page, requestText) {
  await page.getByRole("link", { name: "offpay home" }).click();
  await page.getByRole("link", { name: "Pay", exact: true }).click();
  await page.getByRole("heading", { name: "Pay", exact: true }).waitFor();
  await page.getByRole("textbox", { name: "Payment request" }).fill(requestText);
  await page.getByRole("button", { name: "Pay", exact: true }).click();
  await enterPin(page);
  await page.getByRole("button", { name: "Confirm" }).click();
  await page.getByRole("heading", { name: "Payment note ready" }).waitFor();
  return page.getByRole("textbox", { name: "Payment note" }).inputValue();
}

/** On History, opens the receipt of the `index`th entry whose link is named `name`. */
async function openReceipt(page, name, index = 0) {
  await page.getByRole("link", { name }).nth(index).click();
  await page.getByRole("heading", { name: "Receipt" }).waitFor();
  await page.waitForFunction(() => document.activeElement?.tagName === "H1");
}

/** The receipt's fields as {Amount, From, To, Status, "Note id", ...}. */
function receiptFields(page) {
  return page.getByTestId("receipt").evaluate((dl) => {
    const out = {};
    for (const dt of dl.querySelectorAll("dt")) out[dt.textContent] = dt.nextElementSibling.textContent;
    return out;
  });
}

/** Bob accepts `noteText` exactly; ends on "Payment successful". */
async function accept(page, noteText) {
  await page.goto(`${srv.url}/#/accept`);
  await page.getByRole("heading", { name: "Accept payment" }).waitFor();
  await page.getByRole("textbox", { name: "Payment note" }).fill(noteText);
  await page.getByRole("button", { name: "Accept" }).click();
  await page.getByRole("heading", { name: "Payment successful" }).waitFor();
}

/** Reads the receipt's QR code in the page (its SVG drawn on a canvas, read by the app's jsQR). */
function readQr(page) {
  return page.evaluate(async () => {
    if (!globalThis.jsQR) {
      await new Promise((resolve, reject) => {
        const s = document.createElement("script");
        s.src = "/vendor/jsQR.js";
        s.onload = resolve;
        s.onerror = reject;
        document.head.append(s);
      });
    }
    const svg = document.querySelector('[aria-label="QR code of this receipt"] svg');
    const url = URL.createObjectURL(new Blob([new XMLSerializer().serializeToString(svg)], { type: "image/svg+xml" }));
    const img = new Image();
    img.src = url;
    await img.decode();
    const size = 800;
    const canvas = document.createElement("canvas");
    canvas.width = size;
    canvas.height = size;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, size, size);
    ctx.drawImage(img, 20, 20, size - 40, size - 40);
    URL.revokeObjectURL(url);
    const data = ctx.getImageData(0, 0, size, size);
    return globalThis.jsQR(data.data, size, size)?.data ?? null;
  });
}

test("a note survives a reload and Done: the payer reopens it from History and the payee accepts that text", async () => {
  a = await phone(browser);
  b = await phone(browser);
  await register(a.page, srv.url, "alice", "alice-secret-1");
  await register(b.page, srv.url, "bob", "bob-secret-12");
  await depositAndReload(a.page, srv, "alice", "1000.00");
  await loadPurse(a.page, "500.00", { balanceAfter: "₹500.00" });

  await a.context.setOffline(true);
  await b.context.setOffline(true);
  await a.page.getByRole("heading", { name: "Offline" }).waitFor();
  await b.page.getByRole("heading", { name: "Offline" }).waitFor();

  // 1. Alice pays 120.00 and reloads before Bob scanned anything.
  const request1 = await request(b.page, "120.00");
  const note1 = await pay(a.page, request1);
  await a.page.reload();
  await a.page.getByRole("heading", { name: "Pay", exact: true }).waitFor();
  await openHistory(a.page);
  assert.match(await textOf(a.page, "history-offline"), /You are offline: this list shows the offline payments kept on this phone/);
  let aRows = await rows(a.page);
  assert.equal(aRows.length, 1, aRows.join(" | "));
  assert.match(aRows[0], /Offline payment to bob.*Waiting to upload.*-₹120\.00/);
  await shot(a.page, "history-offline");
  await openReceipt(a.page, "Offline payment to bob");
  const r1 = await receiptFields(a.page);
  assert.equal(r1.Amount, "₹120.00");
  assert.equal(r1.From, "alice");
  assert.equal(r1.To, "bob");
  assert.equal(r1.Status, "Waiting to upload");
  assert.match(r1["Note id"], /^[0-9a-f]{64}$/);
  await shot(a.page, "receipt-waiting");
  await a.page.getByRole("link", { name: "Show payment note" }).click();
  await a.page.getByRole("heading", { name: "Payment note", exact: true }).waitFor();
  assert.equal(await a.page.getByRole("textbox", { name: "Payment note" }).inputValue(), note1);
  await a.page.getByRole("img", { name: "QR code of the payment note for ₹120.00" }).waitFor();
  await shot(a.page, "note-reopened");
  await accept(b.page, note1);

  // 2. Alice pays 30.00 and taps Done before Bob scanned it; she reopens it from History.
  const request2 = await request(b.page, "30.00");
  const note2 = await pay(a.page, request2);
  assert.notEqual(note2, note1);
  await a.page.getByRole("link", { name: "Done" }).click();
  await openHistory(a.page);
  aRows = await rows(a.page);
  assert.equal(aRows.length, 2, aRows.join(" | "));
  assert.match(aRows[0], /Offline payment to bob.*Waiting to upload.*-₹30\.00/);
  await openReceipt(a.page, "Offline payment to bob", 0);
  assert.equal((await receiptFields(a.page)).Amount, "₹30.00");
  await a.page.getByRole("link", { name: "Show payment note" }).click();
  await a.page.getByRole("heading", { name: "Payment note", exact: true }).waitFor();
  assert.equal(await a.page.getByRole("textbox", { name: "Payment note" }).inputValue(), note2);
  await accept(b.page, note2);

  // Bob's history, offline: both notes, accepted here and waiting.
  await openHistory(b.page);
  const bRows = await rows(b.page);
  assert.equal(bRows.length, 2, bRows.join(" | "));
  for (const [i, amount] of [[0, "30.00"], [1, "120.00"]]) {
    assert.match(bRows[i], new RegExp(`Offline payment from account \\d+.*Accepted here, waiting to upload.*\\+₹${amount.replace(".", "\\.")}`));
  }
  await openReceipt(b.page, "Offline payment from account", 1);
  assert.equal((await receiptFields(b.page))["Note id"], r1["Note id"], "the same note on both phones");
  assert.equal(await b.page.getByRole("link", { name: "Show payment note" }).count(), 0, "a payee has no note to show");
  assert.deepEqual(a.errors, []);
  assert.deepEqual(b.errors, []);
});

test("a payment request survives a reload, is shown again from Open requests, and is paid", async () => {
  const requestText = await request(b.page, "45.00");
  await b.page.reload();
  await b.page.getByRole("heading", { name: "Payment request" }).waitFor();
  assert.equal(await b.page.getByRole("textbox", { name: "Payment request" }).inputValue(), requestText);
  await b.page.getByRole("img", { name: "QR code of the payment request for ₹45.00" }).waitFor();

  // From Receive, after another reload: listed under "Open requests", opens to the same text.
  await b.page.getByRole("link", { name: "New request" }).click();
  await b.page.getByRole("heading", { name: "Receive" }).waitFor();
  await b.page.reload();
  await b.page.getByRole("heading", { name: "Receive" }).waitFor();
  await b.page.getByRole("heading", { name: "Open requests" }).waitFor();
  await shot(b.page, "receive-open-requests");
  await b.page.getByRole("link", { name: "Show request for ₹45.00" }).click();
  await b.page.getByRole("heading", { name: "Payment request" }).waitFor();
  assert.equal(await b.page.getByRole("textbox", { name: "Payment request" }).inputValue(), requestText);

  const note = await pay(a.page, requestText);
  await accept(b.page, note);
  // Paid: no longer open.
  await b.page.goto(`${srv.url}/#/receive`);
  await b.page.getByRole("heading", { name: "Receive" }).waitFor();
  assert.equal(await b.page.getByRole("heading", { name: "Open requests" }).count(), 0);
  await b.page.goto(`${srv.url}/#/receive?request=nothing`);
  await b.page.getByRole("heading", { name: "Receive" }).waitFor();
  assert.equal(await textOf(b.page, "request-gone"), "This payment request is not on this phone.");
  assert.deepEqual(a.errors, []);
  assert.deepEqual(b.errors, []);
});

test("back online both histories show each offline payment settled, once, and a receipt's QR code holds it", async () => {
  await backOnline(a, b);
  // Settled once: Bob has the three payments, Alice paid them from her purse only.
  await waitText(b.page, '[data-testid="balance"]', "₹195.00");
  await waitText(a.page, '[data-testid="offline-balance"]', "₹305.00");
  for (const p of [a.page, b.page]) {
    await p.goto(`${srv.url}/#/sync`);
    await waitText(p, '[data-testid="sync-summary"]', "Everything is settled.");
  }
  assert.equal(await serverBalance(b.page), 19500);
  assert.equal(await serverBalance(a.page), 50000);

  // Alice: three notes settled, the purse load and the deposit; nothing twice.
  await openHistory(a.page);
  await a.page.waitForFunction(() => document.querySelectorAll('.activity [data-state="settled"]').length === 3);
  const aRows = await rows(a.page);
  assert.equal(aRows.length, 5, aRows.join(" | "));
  assert.deepEqual(aRows.map((r) => r.match(/^(Offline payment to bob|Loaded offline purse|Deposit)/)?.[1]),
    ["Offline payment to bob", "Offline payment to bob", "Offline payment to bob", "Loaded offline purse", "Deposit"]);
  assert.equal(await a.page.locator(".offline-banner").count(), 0);
  await shot(a.page, "history-settled-payer");

  // Bob: the server's three offline_settle entries are the three notes (merged, with their
  // entry ids), named by the payer's username now.
  await openHistory(b.page);
  await b.page.waitForFunction(() => document.querySelectorAll('.activity [data-state="settled"]').length === 3);
  const bRows = await rows(b.page);
  assert.equal(bRows.length, 3, bRows.join(" | "));
  for (const [i, amount] of [[0, "45.00"], [1, "30.00"], [2, "120.00"]]) {
    assert.match(bRows[i], new RegExp(`^Offline payment from alice.*Settled.*\\+₹${amount.replace(".", "\\.")}$`));
  }
  await shot(b.page, "history-settled-payee");
  await openReceipt(b.page, "Offline payment from alice", 2);
  const fields = await receiptFields(b.page);
  assert.equal(fields.Amount, "₹120.00");
  assert.equal(fields.From, "alice");
  assert.equal(fields.To, "bob");
  assert.equal(fields.Status, "Settled");
  assert.match(fields["Entry id"], /^\d+$/);
  assert.match(fields["Note id"], /^[0-9a-f]{64}$/);

  // The receipt as a QR code; a Share button only where the browser can share.
  await b.page.getByRole("button", { name: "Show QR code" }).click();
  await b.page.getByRole("img", { name: "QR code of this receipt" }).waitFor();
  await shot(b.page, "receipt-qr");
  const qr = await readQr(b.page);
  assert.ok(qr, "the QR code reads");
  assert.match(qr, /^offpay receipt\nOffline payment from alice\nAmount: 120\.00 INR\nFrom: alice\nTo: bob\n/);
  assert.ok(qr.includes(`Status: Settled\nNote id: ${fields["Note id"]}\nEntry id: ${fields["Entry id"]}\n`), qr);
  const canShare = await b.page.evaluate(() => typeof navigator.share === "function");
  assert.equal(await b.page.getByRole("button", { name: "Share receipt" }).count(), canShare ? 1 : 0);

  // Alice's receipt of the same note: settled, no note to show any more.
  await openReceipt(a.page, "Offline payment to bob", 2);
  const aFields = await receiptFields(a.page);
  assert.equal(aFields["Note id"], fields["Note id"]);
  assert.equal(aFields.Status, "Settled");
  assert.equal(await a.page.getByRole("link", { name: "Show payment note" }).count(), 0);

  // Home's recent activity lists the offline payments too, once.
  await b.page.getByRole("link", { name: "offpay home" }).click();
  await b.page.getByRole("heading", { name: "Home", exact: true }).waitFor();
  await b.page.waitForFunction(() => document.querySelectorAll('.activity [data-state="settled"]').length === 3);
  assert.equal((await rows(b.page)).length, 3);

  // Offline again, History still lists them from the device's own records.
  await b.context.setOffline(true);
  await openHistory(b.page);
  await b.page.getByTestId("history-offline").waitFor();
  assert.equal((await rows(b.page)).length, 3);
  await b.context.setOffline(false);
  assert.deepEqual(a.errors, []);
  assert.deepEqual(b.errors, []);
});
