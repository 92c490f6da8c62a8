// The web wallet's protocol code (public/js/protocol) on its own: round trips of every object,
// the payee's acceptance checks in the protocol crate's order, and strict signature rules.
// Keys are made like the protocol crate's testkit: seed = SHA-256("offpay-testkit/" + label).
import { test } from "node:test";
import assert from "node:assert/strict";
import { sha, key, bytes16 } from "./testkit.js";
import { fromText, toText, signObject, hashOf, decode } from "../public/js/protocol/objects.js";
import { acceptNote, acceptNoteText, issuerKey, RejectError } from "../public/js/protocol/accept.js";
import { verifyStrict, hex } from "../public/js/protocol/crypto.js";
import * as base45 from "../public/js/protocol/base45.js";

const NOW = 1767225600n;
const DAY = 86400n;

async function fixture() {
  const issuer = key("issuer-1");
  const payer = key("payer-device");
  const payee = key("payee-device");
  const cert = await signObject("certificate", {
    purseId: bytes16("purse-1"), issuerKeyId: new Uint8Array(sha(issuer.publicKey).subarray(0, 4)), account: 1001n,
    deviceKey: payer.publicKey, currency: "INR", amount: 200000, perPaymentCap: 20000, validFrom: NOW - 3600n, validUntil: NOW + 30n * DAY,
  }, issuer.sign);
  const request = async (amount, label) => signObject("request", {
    payee: 2002n, payeeDeviceKey: payee.publicKey, currency: "INR", amount, nonce: bytes16(label), expiresAt: NOW + 600n, handle: "chai_shop",
  }, payee.sign);
  const pay = async (req, seq, prevHash, cumulative) => signObject("note", {
    certificate: cert, seq, prevHash, cumulative, amount: req.amount, payee: req.payee, nonce: req.nonce, time: NOW,
  }, payer.sign);
  const ctx = (requests) => ({
    me: 2002n, now: NOW, revocations: { purses: new Set(), devices: new Set() },
    openRequests: requests.map((r) => ({ nonce: r.nonce, amount: r.amount, expiresAt: r.expiresAt, paid: false })),
  });
  const issuerKeys = [await issuerKey(issuer.publicKey, NOW - 365n * DAY, NOW + 365n * DAY)];
  return { issuer, payer, payee, cert, request, pay, ctx, issuerKeys };
}

async function rejects(promise, code) {
  await assert.rejects(promise, (e) => e instanceof RejectError && e.code === code, code);
}

test("base45 follows RFC 9285 examples and refuses bad text", () => {
  const enc = new TextEncoder();
  assert.equal(base45.encode(enc.encode("AB")), "BB8");
  assert.equal(base45.encode(enc.encode("Hello!!")), "%69 VD92EX0");
  assert.equal(base45.encode(enc.encode("base-45")), "UJCLQE7W581");
  assert.equal(new TextDecoder().decode(base45.decode("QED8WEX0")), "ietf!");
  assert.equal(base45.decode("GGW"), null); // 65536 is out of range
  assert.equal(base45.decode("ZZ"), null);
  assert.equal(base45.decode("A"), null);
  assert.equal(base45.decode("ab"), null);
});

test("objects round-trip through bytes and text with the documented sizes", async () => {
  const f = await fixture();
  assert.equal(f.cert.encoded.length, 161);
  const req = await f.request(5000, "nonce-1");
  const note = await f.pay(req, 1, await hashOf(f.cert), 5000);
  assert.equal(note.encoded.length, 311);
  for (const obj of [f.cert, req, note]) {
    const text = toText(obj);
    assert.match(text, /^OP[CRN]1:[0-9A-Z $%*+\-./:]+$/);
    assert.ok(text.length <= 600);
    const back = fromText(obj.kind, text);
    assert.deepEqual(back.encoded, obj.encoded);
    assert.deepEqual(decode(obj.kind, obj.encoded).signedBytes, obj.signedBytes);
  }
  assert.equal(fromText("request", toText(req)).handle, "chai_shop");
  assert.throws(() => fromText("note", toText(req)), { code: "text_prefix" });
  assert.throws(() => decode("note", req.encoded), { code: "wrong_tag" });
  assert.throws(() => decode("certificate", f.cert.encoded.subarray(0, 100)), { code: "truncated" });
  assert.throws(() => decode("certificate", new Uint8Array([...f.cert.encoded, 0])), { code: "trailing_bytes" });
  const v2 = f.cert.encoded.slice(); v2[1] = 2;
  assert.throws(() => decode("certificate", v2), { code: "unsupported_version" });
});

test("the payee accepts a good note and refuses each kind of bad one with its reason", async () => {
  const f = await fixture();
  const req = await f.request(5000, "nonce-1");
  const note = await f.pay(req, 1, await hashOf(f.cert), 5000);
  const ctx = { ...f.ctx([req]), issuerKeys: f.issuerKeys };
  const ok = await acceptNote(note, null, ctx);
  assert.equal(ok.amount, 5000);
  assert.equal(ok.payer, 1001n);
  assert.equal(hex(ok.noteHash), hex(await hashOf(note)));

  // replay of the same note
  await rejects(acceptNote(note, ok.tally, ctx), "already_accepted");
  // changed amount or payee: the device signature no longer matches
  const changedAmount = note.encoded.slice();
  changedAmount[2 + 161 + 4 + 32 + 8] ^= 8; // amount 5000 -> 4992
  assert.equal(decode("note", changedAmount).amount, 4992);
  await rejects(acceptNote(decode("note", changedAmount), null, ctx), "bad_device_signature");
  const bytes = note.encoded.slice();
  bytes[2 + 161 + 4 + 32 + 8 + 8] ^= 8; // payee 2002 -> 2010
  assert.equal(decode("note", bytes).payee, 2010n);
  await rejects(acceptNote(decode("note", bytes), null, { ...ctx, me: 2010n }), "bad_device_signature");
  const tamperedText = toText(decode("note", changedAmount));
  await rejects(acceptNoteText(tamperedText, null, ctx), "bad_device_signature");
  await rejects(acceptNoteText("OPN1:NOT-A-NOTE", null, ctx), "malformed");
  // note for someone else
  await rejects(acceptNote(note, null, { ...ctx, me: 3003n }), "wrong_payee");
  // unknown issuer key, expired certificate, unknown request, amount mismatch
  await rejects(acceptNote(note, null, { ...ctx, issuerKeys: [] }), "unknown_issuer_key");
  await rejects(acceptNote(note, null, { ...ctx, now: NOW + 31n * DAY }), "certificate_expired");
  await rejects(acceptNote(note, null, { ...ctx, openRequests: [] }), "unknown_request");
  await rejects(acceptNote(note, null, { ...ctx, openRequests: [{ ...ctx.openRequests[0], amount: 4000 }] }), "amount_mismatch");
  await rejects(acceptNote(note, null, { ...ctx, revocations: { purses: new Set([hex(f.cert.purseId)]), devices: new Set() } }), "revoked");
  // over the per-payment cap
  const big = await f.request(30000, "nonce-big");
  const bigNote = await f.pay(big, 1, await hashOf(f.cert), 30000);
  await rejects(acceptNote(bigNote, null, { ...f.ctx([big]), issuerKeys: f.issuerKeys }), "over_payment_cap");
  // past the most notes one purse may sign: a note 1,001 its own device signed is refused
  const late = await f.request(100, "nonce-late");
  const lateNote = await f.pay(late, 1001, ok.noteHash, 15100);
  await rejects(acceptNote(lateNote, null, { ...f.ctx([late]), issuerKeys: f.issuerKeys }), "over_note_limit");
  const lastNote = await f.pay(late, 1000, ok.noteHash, 15100);
  assert.equal((await acceptNote(lastNote, null, { ...f.ctx([late]), issuerKeys: f.issuerKeys })).seq, 1000);
  // a forked chain: a different note 1 after note 1 was accepted
  const req2 = await f.request(6000, "nonce-2");
  const fork = await f.pay(req2, 1, await hashOf(f.cert), 6000);
  await rejects(acceptNote(fork, ok.tally, { ...f.ctx([req, req2]), issuerKeys: f.issuerKeys }), "inconsistent_with_earlier_note");
  // the next note in the chain is fine
  const next = await f.pay(req2, 2, ok.noteHash, 11000);
  const ok2 = await acceptNote(next, ok.tally, { ...f.ctx([req, req2]), issuerKeys: f.issuerKeys });
  assert.equal(ok2.tally.notes.size, 2);
  // a first note that does not start from the certificate
  await rejects(acceptNote(await f.pay(req, 1, new Uint8Array(32), 5000), null, ctx), "bad_chain_start");
});

test("strict verification refuses non-canonical S and small-order keys", async () => {
  const k = key("payer-device");
  const msg = new TextEncoder().encode("hello");
  const sig = await k.sign(msg);
  assert.equal(await verifyStrict(k.publicKey, msg, sig), true);
  assert.equal(await verifyStrict(k.publicKey, new TextEncoder().encode("hellO"), sig), false);
  // S + L is the same scalar but not canonical
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  let s = 0n;
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i]);
  s += L;
  const bad = sig.slice();
  for (let i = 32; i < 64; i++) { bad[i] = Number(s & 0xffn); s >>= 8n; }
  assert.equal(await verifyStrict(k.publicKey, msg, bad), false);
  // the identity point as public key (small order) with R = identity and S = 0
  const identity = new Uint8Array(32); identity[0] = 1;
  const forged = new Uint8Array(64); forged.set(identity);
  assert.equal(await verifyStrict(identity, msg, forged), false);
});
