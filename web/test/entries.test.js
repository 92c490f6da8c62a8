// One history (public/js/offline/entries.js, pure): a settled offline note and the server's
// offline_settle entry that paid it are listed once; a kept pairing wins; a refused note or
// another amount is never paired; notes older than the loaded server page wait for "Show more";
// note states in words; the receipt text is ASCII with the ids.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fromReceived, fromSent, mergeHistory, noteState, receiptText } from "../public/js/offline/entries.js";

const purse = "ab".repeat(16);
const received = (hash, amount, acceptedMs, extra = {}) =>
  fromReceived({ noteHash: hash, payer: "1001", amount, acceptedMs, purseId: purse, seq: 1, text: "OPN1:x", settled: false, ...extra });
const item = (id, kind, delta, ms, counterparty = null) => ({ entry_id: id, kind, delta, counterparty, memo: null, created_at_ms: ms });

test("a settled note and its offline_settle entry are one entry, named by the server's counterparty", () => {
  const notes = [received("n1", 12000, 100, { settled: true, settledMs: 500 }), received("n2", 3000, 200)];
  const { entries, paired } = mergeHistory([item(9, "offline_settle", 12000, 510, "alice"), item(3, "deposit", 100, 10)], notes);
  assert.deepEqual(entries.map((e) => e.key), ["note:n2", "note:n1", "entry:3"]);
  assert.equal(entries[1].entryId, 9);
  assert.equal(entries[1].counterparty, "alice");
  assert.equal(entries[1].state.code, "settled");
  assert.deepEqual(paired, [{ noteHash: "n1", entryId: 9, role: "payee" }]);
});

test("a kept pairing wins over a closer note; refused notes and other amounts are never paired", () => {
  const notes = [
    received("kept", 500, 100, { settled: true, settledMs: 100, entryId: 7 }),
    received("close", 500, 900, { settled: true, settledMs: 1000 }),
    received("refused", 800, 900, { rejected: "unknown_payee" }),
  ];
  const { entries } = mergeHistory([item(7, "offline_settle", 500, 1000, "alice"), item(8, "offline_settle", 800, 1000, "carol")], notes);
  assert.equal(entries.find((e) => e.key === "note:kept").entryId, 7);
  assert.equal(entries.find((e) => e.key === "note:close").entryId, null);
  assert.ok(entries.some((e) => e.key === "entry:8"), "the server entry stays when no note matches");
  assert.equal(entries.length, 4);
});

test("items that name their note pair exactly: equal amounts close together, a wrong kept pairing, a later payment", () => {
  // Two 500.00 notes from one payer settled a moment apart: the time heuristic would pair them
  // crosswise (n2 was settled nearer to entry 11); the `note` field pairs them right.
  const notes = [
    received("n1", 50000, 100, { settled: true, settledMs: 1000 }),
    received("n2", 50000, 110, { settled: true, settledMs: 1001 }),
    received("kept-wrong", 700, 50, { settled: true, entryId: 13 }),
  ];
  const named = (id, ms, note, delta = 50000) => ({ ...item(id, "offline_settle", delta, ms, "alice"), note });
  const { entries, paired } = mergeHistory([
    named(10, 1000, "n2"), named(11, 1001, "n1"),
    named(12, 2000, "n1", 300), // money held for n1, paid later from the payer: its own line
    named(13, 1500, "someone-elses-note", 700), // a pairing kept from the old heuristic, now known wrong
  ], notes);
  assert.equal(entries.find((e) => e.key === "note:n1").entryId, 11);
  assert.equal(entries.find((e) => e.key === "note:n2").entryId, 10);
  assert.ok(entries.some((e) => e.key === "entry:12"), "a second payment for a note stays its own line");
  assert.ok(entries.some((e) => e.key === "entry:13"), "an item naming another note is not folded into this one");
  assert.equal(entries.find((e) => e.key === "note:kept-wrong").settledEntry, undefined);
  assert.deepEqual(paired.sort((a, b) => a.entryId - b.entryId), [
    { noteHash: "n2", entryId: 10, role: "payee" },
    { noteHash: "n1", entryId: 11, role: "payee" },
  ]);
});

test("with more server pages to load, older unpaired notes wait; the payer's notes stand alone", () => {
  const sent = fromSent({ noteHash: "s1", purseId: purse, seq: 1, amount: 100, payee: "bob", text: "OPN1:x", createdMs: 50, settled: true });
  const newer = fromSent({ noteHash: "s2", purseId: purse, seq: 2, amount: 100, payee: "bob", text: "OPN1:y", createdMs: 300, settled: false });
  const { entries } = mergeHistory([item(5, "purse_load", -1000, 200)], [sent, newer], { complete: false });
  assert.deepEqual(entries.map((e) => e.key), ["note:s2", "entry:5"]);
  assert.equal(mergeHistory([item(5, "purse_load", -1000, 200)], [sent, newer]).entries.length, 3);
});

test("note states in words, and the receipt text", () => {
  assert.equal(noteState({}, "payer").label, "Waiting to upload");
  assert.equal(noteState({}, "payee").label, "Accepted here, waiting to upload");
  assert.equal(noteState({ uploadedMs: 1 }, "payee").code, "uploaded");
  assert.match(noteState({ rejected: "unknown_payee" }, "payer").label, /^Refused by the server: /);
  // A refusal judged again at the next upload is not final: the note is sent again.
  const late = noteState({ rejected: "settlement_deadline_passed" }, "payee");
  assert.match(late.label, /^Not paid yet: The payment was uploaded after the purse's settlement deadline/);
  assert.match(late.detail, /uploaded again at each sync/);
  assert.equal(noteState({ rejected: "unknown_payee" }, "payee").detail, "No money moved for this note.");
  assert.match(noteState({ held: "loss_allowance_exhausted" }, "payee").label, /^Held by the server: /);
  assert.equal(noteState({ settled: true, rejected: "x" }, "payee").code, "settled");
  const e = received("ff".repeat(32), 12000, Date.UTC(2025, 0, 2, 3, 4), { rejected: "unknown_payee" });
  const text = receiptText(e, "bob", "INR", (m) => (m / 100).toFixed(2));
  assert.equal(text, [
    "offpay receipt", "Offline payment from account 1001", "Amount: 120.00 INR", "From: account 1001", "To: bob",
    "Time: 2025-01-02 03:04 UTC", "Status: refused (unknown_payee)", `Note id: ${"ff".repeat(32)}`, `Purse: ${purse}`,
  ].join("\n"));
  assert.ok(/^[\x20-\x7e\n]*$/.test(text));
});
