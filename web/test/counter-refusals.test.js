// Unit tests of public/js/offline/counter-refusals.js (pure): which counter refusals are kept and
// what the counter says then (a clock, this shop's retired card, an unknown issuer key, a revoked
// purse or phone), the
// record kept for a card note refused at the counter (with its nonce and its place in its purse's
// chain, read from the note text for records kept before them, as a tally entry; none for a note
// kept with its certificate unchecked), how the server's answer to
// `POST /v1/notes/refusals` is judged (done, sent again at the next sync, or final with the
// server's words), what a record becomes after an answer (never undone once done or failed), and
// the lines Sync status shows, with the app's money formatting (give it back yourself after a
// final refusal, except a double spender's purse the operator covered, `refund_not_possible`, and
// a note the server found no valid payment, which is never paid), and what the notice after a
// sync says of the refusals sent (a code that was no valid payment apart: nothing to give back).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  afterAnswer, afterFinalRefusal, awaitsSending, GIVE_BACK_YOURSELF, isClockReason, isKeptReason, isNeverPaid, joinsTally, judgeRefusalAnswer, refusalsSynced,
  heldNonce, KEPT_SENTENCES, NEVER_PAID, NOT_FOR_THE_PAYER, refusalEntry, refusalLine, refusalNonce, refusalRecord, refusedBeforeSentence, REFUSED_HERE_BEFORE,
  REFUSED_HERE_BEFORE_FAILED, REFUSED_HERE_BEFORE_INVALID, RETURNED_REASON, UNCHECKED_REASON,
} from "../public/js/offline/counter-refusals.js";
import { REASONS } from "../public/js/protocol/accept.js";
import { hashOf, signObject, toText } from "../public/js/protocol/objects.js";
import { hex } from "../public/js/protocol/crypto.js";
import { key as testKey } from "./testkit.js";
import { ApiError } from "../public/js/api.js";
import { formatMoney } from "../public/js/money.js";

const HASH = "ab".repeat(32);
const money = (m) => formatMoney(m, "INR", 2);
const pending = () => refusalRecord({
  noteHash: HASH, handle: "chai", text: "  OPN1:ABC \n", amount: 12000, payer: 1001n, purseId: "cd".repeat(16), refusedMs: 1_700_000_000_000,
});

test("the record of a refused note: pending, keyed by its hash, amount in minor units, payer as decimal text, text trimmed", () => {
  assert.deepEqual(pending(), {
    noteHash: HASH, handle: "chai", text: "OPN1:ABC", amount: 12000, payer: "1001", purseId: "cd".repeat(16),
    reason: "stale_note", refusedMs: 1_700_000_000_000, state: "pending",
  });
  assert.equal(RETURNED_REASON, "stale_note");
  assert.equal(awaitsSending(pending()), true);
  assert.throws(() => refusalRecord({ ...pending(), noteHash: "AB".repeat(32) }), /64 hex/);
  assert.throws(() => refusalRecord({ ...pending(), noteHash: "ab" }), /64 hex/);
  assert.throws(() => refusalRecord({ ...pending(), amount: 120.5 }), /minor units/);
  assert.throws(() => refusalRecord({ ...pending(), amount: 0 }), /minor units/);
});

test("the refusals kept: the clocks, this shop's retired card, an unknown issuer key and a revoked purse or phone, each saying the shop gives the payment back", () => {
  for (const code of ["stale_note", "certificate_expired", "certificate_not_yet_valid", "wrong_card", "unknown_issuer_key", "revoked"]) {
    assert.equal(isKeptReason(code), true, code);
    assert.match(KEPT_SENTENCES[code], /The shop does not keep this payment: when this device is next online it gives it back to the payer/, code);
    assert.match(KEPT_SENTENCES[code], /taking it back from the shop's balance if the payer's phone was online first/, code);
  }
  // Only the clock's refusals are kept whatever card the note names; a wrong_card note only for a
  // retired card, an unknown issuer key's only when the rest holds (shop.js keepingCheck).
  for (const code of ["stale_note", "certificate_expired", "certificate_not_yet_valid"]) assert.equal(isClockReason(code), true, code);
  for (const code of ["wrong_card", "unknown_issuer_key", "revoked", "nonce_replayed", "toString"]) assert.equal(isClockReason(code), false, code);
  assert.equal(KEPT_SENTENCES.wrong_card, "This code was made for this shop's old card, which this counter no longer takes. "
    + "The shop does not keep this payment: when this device is next online it gives it back to the payer "
    + "(taking it back from the shop's balance if the payer's phone was online first). Ask the payer to scan the shop's current card and pay again.");
  assert.equal(KEPT_SENTENCES.unknown_issuer_key, "This payment's purse was issued with a key this device does not know yet, "
    + "so this counter cannot check it and does not take it. The shop does not keep this payment: when this device is next online it gives it back "
    + "to the payer (taking it back from the shop's balance if the payer's phone was online first). "
    + "Ask the payer to pay another way, and take this device online when you can.");
  assert.equal(KEPT_SENTENCES.revoked, "The operator revoked the payer's purse or phone (money was spent twice from it), so this counter does not take the payment. "
    + "The shop does not keep this payment: when this device is next online it gives it back to the payer "
    + "(taking it back from the shop's balance if the payer's phone was online first). Ask the payer to pay another way.");
  assert.notEqual(KEPT_SENTENCES.revoked, REASONS.revoked);
  assert.doesNotMatch(REASONS.revoked, /gives it back/);
  // A wrong_card note that is not kept (another card of the shop) was checked no further and may
  // never be paid: its sentence promises nothing.
  assert.notEqual(KEPT_SENTENCES.wrong_card, REASONS.wrong_card);
  assert.equal(REASONS.wrong_card, "The payment was made for another card of this shop, so this counter does not take it. "
    + "Hand over nothing for it: if the shop has another counter, the payer can show it there; "
    + "if no counter of the shop took it and it reaches the shop's account when the payer's phone goes online, give it back from the shop's history.");
  assert.doesNotMatch(REASONS.wrong_card, /second payment|still paid/);
  assert.equal(KEPT_SENTENCES.stale_note, REASONS.stale_note);
  // Not kept: the plain sentences say nothing of giving back.
  assert.doesNotMatch(REASONS.certificate_expired, /gives it back/);
  assert.doesNotMatch(REASONS.certificate_not_yet_valid, /gives it back/);
  assert.match(KEPT_SENTENCES.certificate_expired, /date and time/);
  assert.match(KEPT_SENTENCES.certificate_not_yet_valid, /date and time/);
  for (const code of ["nonce_replayed", "over_payment_cap", "bad_device_signature", "bad_issuer_signature", "issuer_key_not_valid", "toString", "__proto__"]) {
    assert.equal(isKeptReason(code), false, code);
  }
});

test("a code repeating the nonce of a kept refusal: not taken, given back if it was paid, so not 'already received' (code nonce_replayed)", async () => {
  const { REPEATS_A_REFUSED_CODE } = await import("../public/js/offline/counter-refusals.js");
  assert.equal(REPEATS_A_REFUSED_CODE, "This code repeats the number of a code refused at this counter, so this counter does not take it. "
    + "The shop does not keep this payment: if it was paid, it is given back to the payer at the next sync. "
    + "Hand over nothing for it and ask the payer to pay another way.");
  assert.notEqual(REPEATS_A_REFUSED_CODE, REASONS.nonce_replayed);
  assert.doesNotMatch(REPEATS_A_REFUSED_CODE, /already received/);
});

test("a record keeps the note's nonce; one kept before it has its nonce read from the note text", async () => {
  const nonce = "0f".repeat(16);
  assert.equal(refusalRecord({ ...pending(), nonce }).nonce, nonce);
  assert.equal(refusalNonce(refusalRecord({ ...pending(), nonce })), nonce);
  assert.equal("nonce" in pending(), false);
  assert.throws(() => refusalRecord({ ...pending(), nonce: "0F".repeat(16) }), /32 hex/);
  assert.throws(() => refusalRecord({ ...pending(), nonce: "0f" }), /32 hex/);
  // A record of the first version (no nonce): read from its note.
  const issuer = testKey("counter-refusals/issuer");
  const payer = testKey("counter-refusals/payer");
  const cert = await signObject("certificate", {
    purseId: new Uint8Array(16).fill(1), issuerKeyId: new Uint8Array(4), account: 1001n, deviceKey: payer.publicKey, currency: "INR",
    amount: 50000, perPaymentCap: 20000, validFrom: 1n, validUntil: 2n,
  }, issuer.sign);
  const noteNonce = new Uint8Array(16).map((_, i) => i);
  const note = await signObject("note", {
    certificate: cert, seq: 1, prevHash: new Uint8Array(32), cumulative: 500, amount: 500, payee: 5001n, nonce: noteNonce, time: 1n,
  }, payer.sign);
  const old = { ...pending(), text: toText(note) };
  assert.equal(refusalNonce(old), "000102030405060708090a0b0c0d0e0f");
  assert.equal(refusalNonce({ ...pending(), text: "OPN1:damaged" }), null);
});

const error = (status, code, message = `the server's words for ${code}`) => ({ error: new ApiError(status, code, message) });

test("a 200 with voided or refunded is done, with the server's amount and payer", () => {
  assert.deepEqual(judgeRefusalAnswer({ answer: { note: HASH, status: "voided", amount: 0, payer: "1001" } }, HASH),
    { kind: "done", status: "voided", amount: 0, payer: "1001", note: HASH });
  assert.deepEqual(judgeRefusalAnswer({ answer: { note: HASH, status: "refunded", amount: 12000, payer: "1001" } }, HASH),
    { kind: "done", status: "refunded", amount: 12000, payer: "1001", note: HASH });
});

test("an answer that cannot be read is no answer: sent again at the next sync", () => {
  const good = { note: HASH, status: "refunded", amount: 12000, payer: "1001" };
  for (const [name, answer] of [
    ["204 (null)", null], ["a string", "ok"], ["another status", { ...good, status: "pending" }], ["no status", { ...good, status: undefined }],
    ["a fractional amount", { ...good, amount: 1.5 }], ["a negative amount", { ...good, amount: -1 }], ["an amount as text", { ...good, amount: "12000" }],
    ["no payer", { ...good, payer: undefined }], ["a payer that is no account", { ...good, payer: "bob" }],
    ["another note's hash", { ...good, note: "cd".repeat(32) }],
  ]) {
    assert.deepEqual(judgeRefusalAnswer({ answer }, HASH), { kind: "retry", code: "unreadable_answer" }, name);
  }
});

test("refusals of the moment, the server's trouble and no answer keep it pending", () => {
  const retry = [
    [409, "note_held"], [409, "insufficient_funds"], [422, "insufficient_funds"], [409, "payer_balance_full"], [403, "account_frozen"],
    [429, "rate_limited"], [429, "too_many_attempts"], [503, "busy"], [500, "internal"], [502, "internal"], [507, "storage_full"],
    [401, "unauthorized"], [408, "request_timeout"], [0, "network"], [200, "unreadable_answer"], [201, "unreadable_answer"],
  ];
  for (const [status, code] of retry) {
    assert.deepEqual(judgeRefusalAnswer(error(status, code), HASH), { kind: "retry", code }, `${status} ${code}`);
  }
  // Anything thrown that is no answer of the server (a bug, a fetch that never ran) is no verdict either.
  assert.deepEqual(judgeRefusalAnswer({ error: new TypeError("boom") }, HASH), { kind: "retry", code: "no_answer" });
});

test("final refusals stop it, with the server's message", () => {
  const final = [
    [400, "malformed"], [403, "not_payee"], [404, "unknown_purse"], [409, "refund_not_possible"],
    [400, "invalid_request"], [404, "not_found"], [413, "payload_too_large"], [422, "something_new"], [403, "unknown_user"],
  ];
  for (const [status, code] of final) {
    assert.deepEqual(judgeRefusalAnswer(error(status, code), HASH), { kind: "final", code, message: `the server's words for ${code}` }, `${status} ${code}`);
  }
  assert.deepEqual(judgeRefusalAnswer({ error: new ApiError(403, "not_payee", "") }, HASH), { kind: "final", code: "not_payee", message: "HTTP 403" });
});

test("after an answer: done and failed records are never sent again, nor changed by a later answer; a retry only notes the time", () => {
  const done = afterAnswer(pending(), { kind: "done", status: "refunded", amount: 12000, payer: "1001", note: HASH }, 5);
  assert.deepEqual(done, { ...pending(), state: "done", sentMs: 5, answeredMs: 5, done: { status: "refunded", amount: 12000, payer: "1001", note: HASH } });
  assert.equal(awaitsSending(done), false);
  const failed = afterAnswer(pending(), { kind: "final", code: "refund_not_possible", message: "The payer's account is closed." }, 6);
  assert.deepEqual(failed, { ...pending(), state: "failed", sentMs: 6, answeredMs: 6, failure: { code: "refund_not_possible", message: "The payer's account is closed." } });
  assert.equal(awaitsSending(failed), false);
  const retried = afterAnswer(pending(), { kind: "retry", code: "note_held" }, 7);
  assert.deepEqual(retried, { ...pending(), sentMs: 7, lastRetry: "note_held" });
  assert.equal(awaitsSending(retried), true);
  // Once answered, an answer arriving later (another tab's sync) changes nothing.
  assert.equal(afterAnswer(done, { kind: "final", code: "malformed", message: "x" }, 8), done);
  assert.equal(afterAnswer(failed, { kind: "done", status: "voided", amount: 0, payer: "1001", note: HASH }, 8), failed);
});

test("Sync status lines: to return, returned (voided or refunded), not returned with the server's words", () => {
  assert.deepEqual(refusalLine(pending(), money), { text: "To return: ₹120.00 to account 1001 (refused at the counter), sent at the next sync." });
  const voided = afterAnswer(pending(), judgeRefusalAnswer({ answer: { note: HASH, status: "voided", amount: 0, payer: "1001" } }, HASH));
  assert.deepEqual(refusalLine(voided, money), {
    text: "Returned ₹120.00 to account 1001 (refused at the counter): the server will not pay it to this shop, and the payer keeps it.",
  });
  const refunded = afterAnswer(pending(), judgeRefusalAnswer({ answer: { note: HASH, status: "refunded", amount: 12000, payer: "1001" } }, HASH));
  assert.deepEqual(refusalLine(refunded, money), {
    text: "Returned ₹120.00 to account 1001 (refused at the counter): the server took it back from this shop's balance.",
  });
  // Large amounts use the Indian grouping of the app's money formatting.
  const big = { ...refunded, done: { ...refunded.done, amount: 12345678 } };
  assert.match(refusalLine(big, money).text, /^Returned ₹1,23,456\.78 to account 1001/);
  const failed = afterAnswer(pending(), judgeRefusalAnswer(error(403, "not_payee", "Only the note's payee can refuse it"), HASH));
  assert.deepEqual(refusalLine(failed, money), {
    text: "Not returned: ₹120.00 to account 1001 (refused at the counter). The server said: Only the note's payee can refuse it. "
      + "If this payment reached this shop's balance, give it back to the payer yourself.",
    code: "not_payee",
  });
  const fraud = afterAnswer(pending(), judgeRefusalAnswer(error(409, "refund_not_possible", "the note can no longer be refunded"), HASH));
  assert.deepEqual(refusalLine(fraud, money), {
    text: "Not returned: ₹120.00 to account 1001 (refused at the counter). The server said: the note can no longer be refunded. "
      + "The server will not give it back: the payer spent this purse's money twice, and the operator covered it. "
      + "Keep it; contact the operator if the payer asks.",
    code: "refund_not_possible",
  });
});

test("after a final refusal: give it back yourself, except when the operator paid the purse's fraud loss (refund_not_possible)", () => {
  // The operator covered a double spender's purse: the money is the operator's, never handed to the payer.
  assert.equal(afterFinalRefusal("refund_not_possible"), NOT_FOR_THE_PAYER);
  assert.doesNotMatch(NOT_FOR_THE_PAYER, /give it back to the payer/);
  assert.match(NOT_FOR_THE_PAYER, /spent this purse's money twice/);
  assert.match(NOT_FOR_THE_PAYER, /contact the operator/);
  for (const code of ["not_payee", "malformed", "too_many_refusals", "something_new", "refund_not_possible ", "REFUND_NOT_POSSIBLE", "INVALID_REQUEST"]) {
    assert.equal(afterFinalRefusal(code), GIVE_BACK_YOURSELF, code);
  }
  assert.equal(GIVE_BACK_YOURSELF, "If this payment reached this shop's balance, give it back to the payer yourself.");
});

test("after a final refusal as no valid payment (invalid_request: the ledger's unpayable note; unknown_purse): it is never paid, no second-payment warning", () => {
  for (const code of ["invalid_request", "unknown_purse"]) {
    assert.equal(isNeverPaid(code), true, code);
    assert.equal(afterFinalRefusal(code), NEVER_PAID, code);
  }
  for (const code of ["not_payee", "refund_not_possible", "note_held", "malformed"]) assert.equal(isNeverPaid(code), false, code);
  assert.match(NEVER_PAID, /not a valid payment: it will never be paid/);
  assert.doesNotMatch(NEVER_PAID, /give it back|second payment/);
  const failed = afterAnswer(pending(), judgeRefusalAnswer(error(400, "invalid_request", "note: the device signature is not valid"), HASH));
  assert.deepEqual(refusalLine(failed, money), {
    text: "Not returned: ₹120.00 to account 1001 (refused at the counter). The server said: note: the device signature is not valid. "
      + "The code was not a valid payment: it will never be paid to this shop, so there is nothing to give back.",
    code: "invalid_request",
  });
  // Shown again at the counter: never paid, so the payer may pay again; no "do not take a second payment".
  assert.equal(refusedBeforeSentence(failed), REFUSED_HERE_BEFORE_INVALID);
  assert.doesNotMatch(REFUSED_HERE_BEFORE_INVALID, /second payment/);
  assert.match(REFUSED_HERE_BEFORE_INVALID, /will never be paid/);
  const unknown = afterAnswer(pending(), judgeRefusalAnswer(error(404, "unknown_purse", "no purse of this server has this certificate"), HASH));
  assert.equal(refusedBeforeSentence(unknown), REFUSED_HERE_BEFORE_INVALID);
});

test("a kept refusal is an entry of its purse's tally: from the record's fields, or read from its note text for records kept before them", async () => {
  const issuer = testKey("counter-refusals/issuer");
  const payer = testKey("counter-refusals/payer");
  const purseId = new Uint8Array(16).fill(7);
  const cert = await signObject("certificate", {
    purseId, issuerKeyId: new Uint8Array(4), account: 1001n, deviceKey: payer.publicKey, currency: "INR",
    amount: 50000, perPaymentCap: 20000, validFrom: 1n, validUntil: 2n,
  }, issuer.sign);
  const prevHash = new Uint8Array(32).fill(9);
  const note = await signObject("note", {
    certificate: cert, seq: 3, prevHash, cumulative: 2500, amount: 700, payee: 5001n, nonce: new Uint8Array(16).fill(3), time: 1n,
  }, payer.sign);
  const noteHash = hex(await hashOf(note));
  const base = { noteHash, handle: "chai", text: toText(note), amount: 700, payer: 1001n, purseId: hex(purseId) };
  const expected = { purseId: hex(purseId), seq: 3, entry: { hash: await hashOf(note), prevHash, cumulative: 2500, amount: 700 } };
  // Kept now: the chain fields are stored like a received note's.
  const kept = refusalRecord({ ...base, seq: 3, prevHash: hex(prevHash), cumulative: 2500 });
  assert.deepEqual([kept.seq, kept.prevHash, kept.cumulative], [3, hex(prevHash), 2500]);
  assert.deepEqual(refusalEntry(kept), expected);
  // The stored fields are used as stored (the text is not read when they are there).
  assert.deepEqual(refusalEntry({ ...kept, text: "OPN1:damaged" }), expected);
  // Kept before: read from the note text, the purse id too when the record has none or a wrong one.
  assert.equal("seq" in refusalRecord(base), false);
  assert.deepEqual(refusalEntry(refusalRecord(base)), expected);
  assert.deepEqual(refusalEntry(refusalRecord({ ...base, purseId: undefined })), expected);
  assert.deepEqual(refusalEntry(refusalRecord({ ...base, purseId: "00" })), expected);
  // Unreadable: no entry (nothing to check against).
  assert.equal(refusalEntry(refusalRecord({ ...base, text: "OPN1:damaged" })), null);
  assert.equal(refusalEntry({ ...kept, noteHash: "zz" }), null);
  // The chain fields come together, or not at all.
  assert.throws(() => refusalRecord({ ...base, seq: 3 }), /together/);
  assert.throws(() => refusalRecord({ ...base, seq: 0, prevHash: hex(prevHash), cumulative: 2500 }), /together/);
  assert.throws(() => refusalRecord({ ...base, seq: 3, prevHash: "ab", cumulative: 2500 }), /together/);
  assert.throws(() => refusalRecord({ ...base, seq: 3, prevHash: hex(prevHash), cumulative: 600 }), /together/);
  // Kept with its certificate unchecked (an issuer key this device did not know): no entry of any
  // tally, its chain fields notwithstanding (its purse id may be forged).
  const unchecked = refusalRecord({ ...base, seq: 3, prevHash: hex(prevHash), cumulative: 2500, reason: UNCHECKED_REASON });
  assert.equal(UNCHECKED_REASON, "unknown_issuer_key");
  assert.equal(joinsTally(unchecked), false);
  assert.equal(refusalEntry(unchecked), null);
  assert.equal(refusalNonce({ ...unchecked, nonce: "0f".repeat(16) }), "0f".repeat(16));
  assert.equal(heldNonce({ ...unchecked, nonce: "0f".repeat(16) }), null, "its nonce does not count as seen: anyone can make such a note");
  assert.equal(heldNonce({ ...kept, nonce: "0f".repeat(16) }), "0f".repeat(16));
  // One kept as repeating a kept note's nonce with its issuer key unknown: the same.
  const flagged = refusalRecord({ ...base, seq: 3, prevHash: hex(prevHash), cumulative: 2500, reason: "nonce_replayed", unchecked: true, nonce: "0f".repeat(16) });
  assert.equal(flagged.unchecked, true);
  assert.equal(joinsTally(flagged), false);
  assert.equal(refusalEntry(flagged), null);
  assert.equal(heldNonce(flagged), null);
  assert.equal("unchecked" in refusalRecord({ ...base, reason: UNCHECKED_REASON, unchecked: true }), false, "the reason says it already");
  for (const reason of ["stale_note", "certificate_expired", "certificate_not_yet_valid", "wrong_card", "revoked"]) {
    assert.equal(joinsTally({ ...kept, reason }), true, reason);
    assert.deepEqual(refusalEntry({ ...kept, reason }), expected, reason);
  }
});

test("a code shown again: being returned (pending or done), or not returned (failed), which asks for no new code", () => {
  assert.equal(refusedBeforeSentence(pending()), REFUSED_HERE_BEFORE);
  assert.equal(refusedBeforeSentence({ ...pending(), state: "done" }), REFUSED_HERE_BEFORE);
  assert.equal(refusedBeforeSentence({ ...pending(), state: "failed" }), REFUSED_HERE_BEFORE_FAILED);
  assert.match(REFUSED_HERE_BEFORE, /Ask the payer for a new code\.$/);
  assert.doesNotMatch(REFUSED_HERE_BEFORE_FAILED, /new code/);
  assert.match(REFUSED_HERE_BEFORE_FAILED, /Do not take a second payment/);
});

test("the notice after a sync: given back, not given back (see Sync status), and a code that was no valid payment said apart, with nothing to give back", () => {
  const NOT_VALID_1 = "1 code refused at the counter was not a valid payment: it was never paid to this shop, so there is nothing to give back.";
  assert.deepEqual(refusalsSynced({ done: 2, refunded: 1, waiting: 1, failed: 1, neverPaid: 1 }), [
    "2 payment(s) refused at the counter given back to the payer.",
    "1 payment(s) refused at the counter could not be given back: see Sync status.",
    NOT_VALID_1,
  ]);
  // A never-paid code alone is not one that could not be given back.
  assert.deepEqual(refusalsSynced({ done: 0, refunded: 0, waiting: 0, failed: 0, neverPaid: 1 }), [NOT_VALID_1]);
  assert.deepEqual(refusalsSynced({ done: 0, failed: 0, neverPaid: 3 }), [
    "3 codes refused at the counter were not valid payments: they were never paid to this shop, so there is nothing to give back.",
  ]);
  for (const s of [...refusalsSynced({ neverPaid: 1 }), ...refusalsSynced({ neverPaid: 2 })]) {
    assert.doesNotMatch(s, /could not be given back|give it back yourself|second payment/);
  }
  // Nothing answered (no refusals sent, or a sync that failed before them): nothing said.
  assert.deepEqual(refusalsSynced({ done: 0, refunded: 0, waiting: 4, failed: 0, neverPaid: 0 }), []);
  assert.deepEqual(refusalsSynced(null), []);
  assert.deepEqual(refusalsSynced(undefined), []);
});
