// Unit tests of the sentences for the server's note-refusal codes (public/js/offline/refusals.js):
// each code the server documents and sends has its own sentence, unknown or missing codes still
// give one, and the code is kept for the small print.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { awaitsUpload, serverRefusal, REFUSALS_JUDGED_AGAIN, SERVER_REASONS, UNKNOWN_REASON } from "../public/js/offline/refusals.js";

const REPO = new URL("../../", import.meta.url);

test("the known codes read as sentences, with the code kept", () => {
  assert.deepEqual(serverRefusal("settlement_deadline_passed"), {
    sentence: "The payment was uploaded after the purse's settlement deadline and the payer's balance could not cover it.",
    code: "settlement_deadline_passed",
  });
  assert.deepEqual(serverRefusal("bad_device_signature"), {
    sentence: "The payer device's signature is not valid: the note was changed or forged.",
    code: "bad_device_signature",
  });
  assert.equal(serverRefusal("unknown_payee").sentence, "The account this payment is made out to does not exist on this server.");
  assert.equal(serverRefusal("unknown_purse").sentence, "The server does not know the purse this payment was made from.");
  assert.equal(serverRefusal("over_purse_amount").sentence, "The payer's purse does not hold enough for this payment.");
  assert.equal(serverRefusal("over_payment_cap").sentence, "The amount is over the purse's limit per payment.");
  assert.equal(serverRefusal("revoked").sentence, "The payer's purse or device has been blocked.");
});

test("every code gets its own sentence that is not the code itself", () => {
  const codes = ["settlement_deadline_passed", "bad_device_signature", "unknown_purse", "unknown_payee",
    "over_purse_amount", "over_payment_cap", "wrong_purse", "bad_chain_start", "revoked", "malformed",
    "same_sequence", "broken_chain", "beyond_close", "inconsistent_with_earlier_note", "request_already_paid",
    "loss_allowance_exhausted", "over_note_limit", "payee_must_upload", "payee_balance_full", "refused_by_payee"];
  const sentences = new Set();
  for (const code of codes) {
    const r = serverRefusal(code);
    assert.equal(r.code, code);
    assert.notEqual(r.sentence, UNKNOWN_REASON, code);
    assert.ok(!r.sentence.includes("_"), `${code}: ${r.sentence}`);
    assert.match(r.sentence, /^[A-Z].*\.$/, code);
    sentences.add(r.sentence);
  }
  assert.equal(sentences.size, codes.length, "two codes share a sentence");
  assert.deepEqual(Object.keys(SERVER_REASONS).sort(), [...codes].sort());
});

test("unknown, missing and odd codes still give a sentence", () => {
  assert.deepEqual(serverRefusal("something_new"), { sentence: UNKNOWN_REASON, code: "something_new" });
  assert.deepEqual(serverRefusal(undefined), { sentence: UNKNOWN_REASON, code: "rejected" });
  assert.deepEqual(serverRefusal(""), { sentence: UNKNOWN_REASON, code: "rejected" });
  assert.deepEqual(serverRefusal(42), { sentence: UNKNOWN_REASON, code: "rejected" });
  // Inherited object keys are not reasons.
  assert.equal(serverRefusal("toString").sentence, UNKNOWN_REASON);
  assert.equal(serverRefusal("__proto__").sentence, UNKNOWN_REASON);
});

test("every refusal code docs/API-OFFLINE.md lists has a sentence", () => {
  const doc = readFileSync(new URL("docs/API-OFFLINE.md", REPO), "utf8");
  const part = doc.slice(doc.indexOf("Note results:"), doc.indexOf("## Errors"));
  const listed = [...part.matchAll(/`([a-z]+(?:_[a-z]+)+|malformed|revoked)`/g)].map((m) => m[1])
    .filter((c) => !["rejected", "settled", "duplicate", "fraud"].includes(c));
  assert.ok(listed.includes("unknown_payee") && listed.includes("beyond_close"), `parsed: ${listed}`);
  for (const code of listed) assert.ok(Object.hasOwn(SERVER_REASONS, code), `${code} has no sentence`);
});

test("the ledger's code for a note its payee refused at the counter is the one mapped, and it is final", () => {
  const refusal = readFileSync(new URL("crates/ledger/src/offline/refusal.rs", REPO), "utf8");
  const m = refusal.match(/REFUSED_BY_PAYEE: &str = "([a-z_]+)"/);
  assert.ok(m, "constant not found in crates/ledger/src/offline/refusal.rs");
  assert.ok(Object.hasOwn(SERVER_REASONS, m[1]));
  assert.equal(awaitsUpload({ rejected: m[1] }), false, "a refused note is not uploaded again");
});

test("the ledger's settlement-deadline code is the one mapped", () => {
  const plan = readFileSync(new URL("crates/ledger/src/offline/plan.rs", REPO), "utf8");
  const m = plan.match(/SETTLEMENT_DEADLINE_PASSED: &str = "([a-z_]+)"/);
  assert.ok(m, "constant not found in crates/ledger/src/offline/plan.rs");
  assert.ok(Object.hasOwn(SERVER_REASONS, m[1]));
});

test("a note refused at the settlement deadline is uploaded again; a note refused for good is not", () => {
  assert.equal(awaitsUpload({}), true, "never answered");
  assert.equal(awaitsUpload({ held: "loss_allowance_exhausted" }), true, "held: asked again at each sync");
  assert.equal(awaitsUpload({ rejected: "settlement_deadline_passed" }), true);
  assert.equal(awaitsUpload({ rejected: "payee_balance_full" }), true);
  for (const code of ["bad_device_signature", "unknown_payee", "inconsistent_with_earlier_note", "payee_must_upload", "rejected"]) {
    assert.equal(awaitsUpload({ rejected: code }), false, code);
  }
  assert.equal(awaitsUpload({ settled: true }), false);
  assert.equal(awaitsUpload({ settled: true, rejected: "settlement_deadline_passed" }), false);
});

test("the refusals uploaded again are the wallet crate's list", () => {
  const rust = readFileSync(new URL("crates/api/src/offline.rs", REPO), "utf8");
  const list = rust.match(/pub const REFUSALS_JUDGED_AGAIN: &\[&str\] = &\[([^\]]*)\];/);
  assert.ok(list, "REFUSALS_JUDGED_AGAIN not found in crates/api/src/offline.rs");
  assert.deepEqual(list[1].split(",").map((c) => c.trim().replace(/^"|"$/g, "")).filter(Boolean), [...REFUSALS_JUDGED_AGAIN]);
});

test("a code for another card promises nothing: hand over nothing, show it at the other counter, give it back if it reaches the shop", async () => {
  // The note was checked no further than its card (before the cap, purse amount and tally
  // checks), nothing here keeps it, and it may never be paid: no "still paid", no "second payment".
  const { REASONS } = await import("../public/js/protocol/accept.js");
  assert.doesNotMatch(REASONS.wrong_card, /pay again/i);
  assert.doesNotMatch(REASONS.wrong_card, /still paid|second payment/);
  assert.match(REASONS.wrong_card, /Hand over nothing for it/);
  assert.match(REASONS.wrong_card, /give it back from the shop's history\.$/);
  // A code for this shop's own old card is kept and given back (counter-refusals.js): the plain
  // refusal is only for another card of the shop, and says nothing of an old card.
  assert.doesNotMatch(REASONS.wrong_card, /old card/);
  assert.match(REASONS.wrong_card, /another counter, the payer can show it there/);
});

test("a code refused for the payer's clock says it is given back, so paying again is right", async () => {
  const { REASONS } = await import("../public/js/protocol/accept.js");
  // This device keeps the code and gives it back when online (counter-refusals.js): the customer
  // pays again, and the sentence says so, including when the payer's phone was online first.
  assert.match(REASONS.stale_note, /gives it back to the payer/);
  assert.match(REASONS.stale_note, /taking it back from the shop's balance if the payer's phone was online first/);
  assert.match(REASONS.stale_note, /set the phone's clock right and pay again\.$/);
  assert.doesNotMatch(REASONS.stale_note, /do not take a second payment/);
});
