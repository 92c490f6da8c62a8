// End-to-end in Chromium against the real `offpay serve`: an offline payment between two phones
// (two browser contexts). Alice loads an offline purse online; then, with both contexts offline,
// Bob requests, Alice pays, and paying the same request again shows "Already paid" with the same
// note (her offline balance drops once); Bob first gets a tampered copy of the note ("Payment
// failed" with the reason), then the real one ("Payment successful"). Back online, both sides
// settle by themselves and Bob's balance holds the money, once. The texts are moved between the
// pages exactly as shown.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startServerAndBrowser, stopServerAndBrowser, backOnline, depositAndReload, enterPin, loadPurse, phone, register, shot, textOf, waitText,
} from "../harness.js";
import { textToBytes, NOTE_LEN } from "../../public/js/protocol/objects.js";
import { encode as base45 } from "../../public/js/protocol/base45.js";

let srv;
let browser;
before(async () => { ({ srv, browser } = await startServerAndBrowser()); });
after(() => stopServerAndBrowser({ srv, browser }));

/** The note with one bit of its signed `time` field flipped: still well formed, no longer signed. */
function tamper(noteText) {
  const bytes = textToBytes("note", noteText);
  assert.equal(bytes.length, NOTE_LEN);
  bytes[NOTE_LEN - 64 - 1] ^= 1; // last byte of `time`, just before the 64-byte signature
  return `OPN1:${base45(bytes)}`;
}

test("offline: request, pay and accept with both phones offline; a tampered note fails; both settle online", async () => {
  const a = await phone(browser);
  const b = await phone(browser);
  await register(a.page, srv.url, "alice", "alice-secret-1");
  await register(b.page, srv.url, "bob", "bob-secret-12");
  await depositAndReload(a.page, srv, "alice", "1000.00");

  // Online: Alice loads an offline purse.
  await loadPurse(a.page, "500.00", { onFilled: (p) => shot(p, "load-purse"), balanceAfter: "₹500.00" });
  await shot(a.page, "home-with-purse");

  // Both phones lose the connection: the offline home replaces home.
  await a.context.setOffline(true);
  await b.context.setOffline(true);
  await a.page.getByRole("heading", { name: "Offline" }).waitFor();
  await b.page.getByRole("heading", { name: "Offline" }).waitFor();
  await waitText(a.page, '[data-testid="offline-balance"]', "₹500.00");
  await shot(a.page, "offline-home");

  // Bob asks for 120.00.
  await b.page.getByRole("link", { name: "Receive", exact: true }).click();
  await b.page.getByRole("heading", { name: "Receive" }).waitFor();
  await b.page.getByLabel("Amount").fill("120.00");
  await shot(b.page, "receive");
  await b.page.getByRole("button", { name: "Request payment" }).click();
  await b.page.getByRole("heading", { name: "Payment request" }).waitFor();
  const requestText = await b.page.getByRole("textbox", { name: "Payment request" }).inputValue();
  assert.match(requestText, /^OPR1:[0-9A-Z $%*+\-./:]+$/);
  await shot(b.page, "receive-request");

  // Alice pastes the request exactly, pays and gets the note.
  await a.page.getByRole("link", { name: "Pay", exact: true }).click();
  await a.page.getByRole("heading", { name: "Pay", exact: true }).waitFor();
  await a.page.getByRole("textbox", { name: "Payment request" }).fill(requestText);
  await shot(a.page, "pay");
  await a.page.getByRole("button", { name: "Pay", exact: true }).click();
  await a.page.getByRole("group", { name: "Confirm payment" }).waitFor();
  assert.match(await a.page.getByRole("group", { name: "Confirm payment" }).textContent(), /Pay ₹120\.00 to bob/);
  await enterPin(a.page);
  await shot(a.page, "pay-confirm");
  await a.page.getByRole("button", { name: "Confirm" }).click();
  await a.page.getByRole("heading", { name: "Payment note ready" }).waitFor();
  const noteText = await a.page.getByRole("textbox", { name: "Payment note" }).inputValue();
  assert.match(noteText, /^OPN1:[0-9A-Z $%*+\-./:]+$/);
  assert.ok(noteText.includes(" "), "base45 text keeps its spaces");
  await shot(a.page, "pay-note");

  // Alice pays the same request again (Bob's phone missed the code, say): no confirmation, no
  // second note, the same note shown again, and the purse pays 120.00 only once.
  await a.page.getByRole("link", { name: "offpay home" }).click();
  await a.page.getByRole("heading", { name: "Offline" }).waitFor();
  await waitText(a.page, '[data-testid="offline-balance"]', "₹380.00");
  await a.page.getByRole("link", { name: "Pay", exact: true }).click();
  await a.page.getByRole("heading", { name: "Pay", exact: true }).waitFor();
  await a.page.getByRole("textbox", { name: "Payment request" }).fill(requestText);
  await a.page.getByRole("button", { name: "Pay", exact: true }).click();
  await a.page.getByRole("heading", { name: "Already paid" }).waitFor();
  assert.equal(await a.page.getByRole("group", { name: "Confirm payment" }).count(), 0);
  assert.equal(await textOf(a.page, "already-paid"),
    "You already paid ₹120.00 to bob for this request. Here is the same payment note again: nothing more was paid. "
    + "Show this code to the payee, or send them the text.");
  assert.equal(await a.page.getByRole("textbox", { name: "Payment note" }).inputValue(), noteText);
  await a.page.getByRole("img", { name: "QR code of the payment note for ₹120.00" }).waitFor();
  await shot(a.page, "pay-already-paid");
  await a.page.getByRole("link", { name: "Done" }).click();
  await a.page.getByRole("heading", { name: "Offline" }).waitFor();
  await waitText(a.page, '[data-testid="offline-balance"]', "₹380.00");

  // A changed note is refused on Bob's phone, with the failed check in words.
  await b.page.getByRole("link", { name: "Accept" }).click();
  await b.page.getByRole("heading", { name: "Accept payment" }).waitFor();
  await b.page.getByRole("textbox", { name: "Payment note" }).fill(tamper(noteText));
  await b.page.getByRole("button", { name: "Accept" }).click();
  await b.page.getByRole("heading", { name: "Payment failed" }).waitFor();
  assert.equal(await textOf(b.page, "failure-reason"),
    "Reason: The payer device's signature is not valid: the note was changed or forged.");
  await shot(b.page, "payment-failed-offline");

  // The real note is accepted with no server.
  await b.page.getByRole("link", { name: "Try again" }).click();
  await b.page.getByRole("heading", { name: "Accept payment" }).waitFor();
  await b.page.getByRole("textbox", { name: "Payment note" }).fill(noteText);
  await shot(b.page, "accept");
  await b.page.getByRole("button", { name: "Accept" }).click();
  await b.page.getByRole("heading", { name: "Payment successful" }).waitFor();
  assert.match(await textOf(b.page, "result-summary"), /₹120\.00 received\. It settles when either device is online; be online by .+ \(when the payer's purse ends\) to be sure it is paid\./);
  await shot(b.page, "payment-successful-offline");

  // The same note scanned again is not a failure: it is already on the device, nothing more.
  await b.page.evaluate(() => { location.hash = "#/accept"; });
  await b.page.getByRole("heading", { name: "Accept payment" }).waitFor();
  await b.page.getByRole("textbox", { name: "Payment note" }).fill(noteText);
  await b.page.getByRole("button", { name: "Accept" }).click();
  await b.page.getByRole("heading", { name: "Already received" }).waitFor();
  assert.match(await textOf(b.page, "result-summary"), /You already accepted this payment of ₹120\.00 on .+\. Nothing more was received\./);
  assert.equal(await b.page.getByTestId("failure-reason").count(), 0);

  // Still offline: both sync pages list the payment as waiting.
  for (const p of [a.page, b.page]) {
    await p.goto(`${srv.url}/#/sync`);
    await p.getByRole("heading", { name: "Sync status" }).waitFor();
    assert.equal(await textOf(p, "sync-summary"), "1 offline payment(s) waiting to settle.");
  }
  await shot(a.page, "sync-waiting");
  await waitText(a.page, "#net-status", "Offline");

  // Back online: each phone uploads by itself and the payment settles once.
  await backOnline(a, b);
  await waitText(b.page, '[data-testid="balance"]', "₹120.00");
  await waitText(a.page, '[data-testid="balance"]', "₹500.00");
  await waitText(a.page, '[data-testid="offline-balance"]', "₹380.00");
  for (const p of [a.page, b.page]) {
    await p.goto(`${srv.url}/#/sync`);
    await waitText(p, '[data-testid="sync-summary"]', "Everything is settled.");
  }
  await shot(b.page, "sync-settled");

  assert.deepEqual(a.errors, []);
  assert.deepEqual(b.errors, []);
  await a.context.close();
  await b.context.close();
});
