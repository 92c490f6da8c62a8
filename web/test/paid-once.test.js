// One payment per request on the payer's device (public/js/offline/paid-once.js): which stored
// `sent` record paid a request, found by the request's nonce (from the record, or from the note
// text of records stored before the nonce was kept), and whether it is the same request (payee,
// amount, currency) or a request reusing a paid nonce with other terms.
import { test } from "node:test";
import assert from "node:assert/strict";
import { sha, key, bytes16 } from "./testkit.js";
import { signObject, toText, hashOf } from "../public/js/protocol/objects.js";
import { hex } from "../public/js/protocol/crypto.js";
import { findPaid, paidNonce, alreadyPaid, REUSED_REQUEST } from "../public/js/offline/paid-once.js";

const NOW = 1767225600n;

const issuer = key("issuer-1");
const payer = key("payer-device");
const payee = key("payee-device");
const cert = await signObject("certificate", {
  purseId: bytes16("purse-1"), issuerKeyId: new Uint8Array(sha(issuer.publicKey).subarray(0, 4)), account: 1001n,
  deviceKey: payer.publicKey, currency: "INR", amount: 200000, perPaymentCap: 20000, validFrom: NOW - 3600n, validUntil: NOW + 86400n,
}, issuer.sign);

const request = (label, edit = {}) => signObject("request", {
  payee: 2002n, payeeDeviceKey: payee.publicKey, currency: "INR", amount: 5000, nonce: bytes16(label),
  expiresAt: NOW + 600n, handle: "chai_shop", ...edit,
}, payee.sign);

/** The `sent` record the wallet stores after paying `req` as note `seq`. */
async function paid(req, seq, createdMs, { keepNonce = true } = {}) {
  const note = await signObject("note", {
    certificate: cert, seq, prevHash: new Uint8Array(32), cumulative: 5000 * seq, amount: req.amount,
    payee: req.payee, nonce: req.nonce, time: NOW,
  }, payer.sign);
  const record = {
    noteHash: hex(await hashOf(note)), handle: "alice", purseId: hex(cert.purseId), seq, amount: req.amount,
    payee: "chai_shop", text: toText(note), createdMs, settled: false,
  };
  if (keepNonce) record.nonce = hex(req.nonce);
  return record;
}

test("a request nobody paid has no earlier payment", async () => {
  const other = await paid(await request("other"), 1, 1);
  assert.equal(findPaid([], await request("fresh")), null);
  assert.equal(findPaid([other], await request("fresh")), null);
});

test("the record that paid the request is found, with its note, and is the same request", async () => {
  const req = await request("r1");
  const record = await paid(req, 2, 20);
  const found = findPaid([await paid(await request("other"), 1, 10), record], req);
  assert.equal(found.record, record);
  assert.equal(found.same, true);
  assert.equal(found.note.seq, 2);
  assert.equal(hex(found.note.nonce), hex(req.nonce));
});

test("records stored before the nonce was kept are found from their note text", async () => {
  const req = await request("legacy");
  const record = await paid(req, 1, 5, { keepNonce: false });
  assert.equal(record.nonce, undefined);
  assert.equal(paidNonce(record), hex(req.nonce));
  const found = findPaid([record], req);
  assert.equal(found.record, record);
  assert.equal(found.same, true);
  // An unreadable old record is skipped, not fatal.
  assert.equal(paidNonce({ text: "OPN1:NOT A NOTE" }), null);
  assert.equal(findPaid([{ text: "OPN1:NOT A NOTE", createdMs: 1 }], req), null);
});

test("the same nonce with another amount, payee or currency is not the same request", async () => {
  const req = await request("r2");
  const record = await paid(req, 1, 1);
  for (const edit of [{ amount: 6000 }, { payee: 3003n }, { currency: "USD" }]) {
    const reused = await request("r2", edit);
    const found = findPaid([record], reused);
    assert.equal(found.record, record, JSON.stringify(Object.keys(edit)));
    assert.equal(found.same, false, JSON.stringify(Object.keys(edit)));
  }
  // A different handle or expiry does not change what the note pays: the same request.
  assert.equal(findPaid([record], await request("r2", { handle: "other_name", expiresAt: NOW + 5n })).same, true);
});

test("when an older store holds two notes for one request, the oldest is shown", async () => {
  const req = await request("twice");
  const older = await paid(req, 1, 100);
  const newer = await paid(req, 2, 200);
  assert.equal(findPaid([newer, older], req).record, older);
});

test("the sentences say it was paid once and what to do with a reused request", () => {
  assert.equal(alreadyPaid("₹50.00", "chai_shop"),
    "You already paid ₹50.00 to chai_shop for this request. Here is the same payment note again: nothing more was paid.");
  assert.match(REUSED_REQUEST, /already paid/);
  assert.match(REUSED_REQUEST, /nothing was paid/);
  assert.match(REUSED_REQUEST, /new payment request/);
});
