// Shops in the web wallet, without a browser: the shop card encoder (encodeCard, docs/PROTOCOL.md
// 4.5) round trips and is checked by verifyCard; a note made with cardNonce for that card is
// accepted by acceptCardNote and refused for another card; cardNoteFitsButForIssuer, the same
// check without the issuer checks (only to keep a note to give back); the takings of shop mode
// (offline/takings.js): what counts as taken, today's total, the 30 days and the CSV, each net of
// a payment given back after the counter refused it (an outgoing transfer with the server's
// refund memo: a negative CSV row; an incoming one, this account's own purchase given back by
// another shop's counter, is no sale and left out), and the CSV's formula guard, which leaves plain negative
// numbers alone; the spoken announcement (shop-feed.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { sha, key } from "./testkit.js";
import { encodeCard, fromText, toText, signObject, hashOf, isShopName } from "../public/js/protocol/objects.js";
import { acceptCardNote, cardNoteFitsButForIssuer, verifyCard, cardNonce, cardNoncePrefix, RejectError } from "../public/js/protocol/accept.js";
import { hex } from "../public/js/protocol/crypto.js";
import { COUNTER_REFUND_MEMO, csvField, isReturned, isTaking, perDay, takingsCsv, takingsOn } from "../public/js/offline/takings.js";
import { spokenAmount } from "../public/js/shop-feed.js";

const NOW = 1767225600n;

const shopKey = key("shop-device");
const cardFields = (over = {}) => ({ payee: 2002n, shopDeviceKey: shopKey.publicKey, currency: "INR", issuedAt: NOW, handle: "chai_shop", name: "Asha's Chai", ...over });

test("encodeCard: the 4.5 layout, text round trip, verifyCard passes; a changed byte or a bad name does not", async () => {
  const card = await encodeCard(cardFields(), shopKey.sign);
  const name = new TextEncoder().encode("Asha's Chai");
  assert.equal(card.encoded.length, 119 + "chai_shop".length + name.length);
  assert.equal(card.encoded[0], 0x53);
  assert.equal(card.encoded[53], "chai_shop".length);
  assert.equal(card.encoded[54 + 9], name.length);
  const text = toText(card);
  assert.match(text, /^OPS1:[0-9A-Z $%*+\-./:]+$/);
  const back = fromText("card", text);
  assert.equal(back.name, "Asha's Chai");
  assert.equal(back.handle, "chai_shop");
  assert.equal(back.payee, 2002n);
  assert.equal(back.issuedAt, NOW);
  await verifyCard(back);
  const bytes = back.encoded.slice();
  bytes[45 + 7] ^= 1; // issued_at's last byte
  const { decode } = await import("../public/js/protocol/objects.js");
  await assert.rejects(verifyCard(decode("card", bytes)), (e) => e instanceof RejectError && e.code === "bad_card_signature");
  for (const bad of ["", " Asha", "Asha ", "a\u202eb", "x".repeat(49), "two\nlines"]) {
    assert.equal(isShopName(bad), false, JSON.stringify(bad));
    await assert.rejects(encodeCard(cardFields({ name: bad }), shopKey.sign), (e) => e.code === "bad_name");
  }
  // 16 Devanagari letters are 48 bytes: the longest name.
  assert.ok(isShopName("क".repeat(16)));
  const noHandle = await encodeCard(cardFields({ handle: null }), shopKey.sign);
  assert.equal(fromText("card", toText(noHandle)).handle, null);
});

test("a note made with cardNonce is accepted for its card, refused for a newer card (wrong_card) and when seen (nonce_replayed)", async () => {
  const issuer = key("issuer-1");
  const payer = key("payer-device");
  const cert = await signObject("certificate", {
    purseId: new Uint8Array(sha("purse-1").subarray(0, 16)), issuerKeyId: new Uint8Array(sha(issuer.publicKey).subarray(0, 4)), account: 1001n,
    deviceKey: payer.publicKey, currency: "INR", amount: 200000, perPaymentCap: 50000, validFrom: NOW - 3600n, validUntil: NOW + 86400n,
  }, issuer.sign);
  const card = await encodeCard(cardFields(), shopKey.sign);
  const nonce = await cardNonce(card, new Uint8Array(12).fill(7));
  assert.equal(hex(nonce.slice(0, 4)), hex(await cardNoncePrefix(card)));
  const note = await signObject("note", {
    certificate: cert, seq: 1, prevHash: await hashOf(cert), cumulative: 25000, amount: 25000, payee: 2002n, nonce, time: NOW,
  }, payer.sign);
  const ctx = (c, seen = []) => ({
    card: c, seenNonces: new Set(seen), window: 600n, now: NOW, revocations: { purses: new Set(), devices: new Set() },
    issuerKeys: [{ keyId: new Uint8Array(sha(issuer.publicKey).subarray(0, 4)), publicKey: issuer.publicKey, notBefore: NOW - 86400n, notAfter: NOW + 86400n * 400n }],
  });
  const ok = await acceptCardNote(note, null, ctx(card));
  assert.equal(ok.amount, 25000);
  const newer = await encodeCard(cardFields({ issuedAt: NOW + 1n }), shopKey.sign);
  await assert.rejects(acceptCardNote(note, null, ctx(newer)), (e) => e.code === "wrong_card");
  await assert.rejects(acceptCardNote(note, null, ctx(card, [hex(nonce)])), (e) => e.code === "nonce_replayed");
  // With no issuer key known: acceptCardNote refuses it; cardNoteFitsButForIssuer runs every other
  // check (so a note of an issuer key this device does not know yet may be kept to give back).
  const noKeys = { ...ctx(card), issuerKeys: [] };
  await assert.rejects(acceptCardNote(note, null, noKeys), (e) => e.code === "unknown_issuer_key");
  assert.equal((await cardNoteFitsButForIssuer(note, null, noKeys)).amount, 25000);
  await assert.rejects(cardNoteFitsButForIssuer(note, null, { ...noKeys, card: newer }), (e) => e.code === "wrong_card");
  await assert.rejects(cardNoteFitsButForIssuer(note, null, { ...noKeys, seenNonces: new Set([hex(nonce)]) }), (e) => e.code === "nonce_replayed");
  await assert.rejects(cardNoteFitsButForIssuer(note, null, { ...noKeys, now: NOW + 86400n * 2n }), (e) => e.code === "certificate_expired");
  const forged = await signObject("note", {
    certificate: cert, seq: 1, prevHash: await hashOf(cert), cumulative: 25000, amount: 25000, payee: 2002n, nonce, time: NOW,
  }, key("not-the-payer").sign);
  await assert.rejects(cardNoteFitsButForIssuer(forged, null, noKeys), (e) => e.code === "bad_device_signature");
  // The issuer's signature is not looked at: a certificate signed by another key passes the rest.
  const unknown = await signObject("certificate", { ...cert, issuerKeyId: new Uint8Array(4).fill(9) }, key("issuer-unknown").sign);
  const onUnknown = await signObject("note", {
    certificate: unknown, seq: 1, prevHash: await hashOf(unknown), cumulative: 25000, amount: 25000, payee: 2002n, nonce, time: NOW,
  }, payer.sign);
  await assert.rejects(acceptCardNote(onUnknown, null, ctx(card)), (e) => e.code === "unknown_issuer_key");
  assert.equal((await cardNoteFitsButForIssuer(onUnknown, null, ctx(card))).amount, 25000);
});

const DAY_MS = 86_400_000;
const day = (ms) => new Date(ms).toISOString().slice(0, 10);
const time = (ms) => new Date(ms).toISOString().slice(11, 19);
const T = Date.UTC(2026, 10, 30, 10, 0, 0);
const items = [
  { entry_id: 9, kind: "transfer", delta: 25000, counterparty: "asha", memo: null, created_at_ms: T },
  { entry_id: 8, kind: "offline_settle", delta: 12050, counterparty: "ravi", memo: null, created_at_ms: T - 3600_000, note: "ab".repeat(32) },
  { entry_id: 7, kind: "transfer", delta: -500, counterparty: "lata", memo: null, created_at_ms: T - 60_000 },
  { entry_id: 6, kind: "deposit", delta: 100000, counterparty: null, memo: null, created_at_ms: T - 120_000 },
  { entry_id: 5, kind: "transfer", delta: 300, counterparty: "=cmd", memo: null, created_at_ms: T - 2 * DAY_MS },
  { entry_id: 4, kind: "transfer", delta: 999, counterparty: "old", memo: null, created_at_ms: T - 40 * DAY_MS },
];

test("takings: payments in and settled notes count, deposits and payments out do not; per day over 30 days; the CSV of a range", () => {
  assert.deepEqual(items.map(isTaking), [true, true, false, false, true, true]);
  assert.deepEqual(takingsOn(items, day(T), day), { total: 37050, count: 2, returned: 0, returnedTotal: 0 });
  const days = perDay(items, T, 30, day);
  assert.equal(days.length, 30);
  assert.equal(days[29].day, day(T));
  assert.deepEqual(days[29], { day: day(T), total: 37050, count: 2, returned: 0, returnedTotal: 0 });
  assert.deepEqual(days[27], { day: day(T - 2 * DAY_MS), total: 300, count: 1, returned: 0, returnedTotal: 0 });
  assert.equal(days.reduce((s, d) => s + d.total, 0), 37350, "the 40-day-old payment is outside the chart");
  const csv = takingsCsv(items, day(T - 2 * DAY_MS), day(T), (m) => (m / 100).toFixed(2), day, time);
  assert.equal(csv, [
    "date,time,amount,from,entry id,note id",
    `${day(T - 2 * DAY_MS)},10:00:00,3.00,'=cmd,5,`,
    `${day(T)},09:00:00,120.50,ravi,8,${"ab".repeat(32)}`,
    `${day(T)},10:00:00,250.00,asha,9,`,
  ].join("\r\n") + "\r\n");
  assert.equal(takingsCsv(items, day(T + DAY_MS), day(T + DAY_MS), String, day, time), "date,time,amount,from,entry id,note id\r\n");
});

test("takings: a payment given back after the counter refused it comes off the day it went back; the CSV has it as a negative row", () => {
  assert.equal(COUNTER_REFUND_MEMO, "Returned: payment refused at the shop's counter");
  const paid = { entry_id: 20, kind: "offline_settle", delta: 1000, counterparty: "asha", memo: null, created_at_ms: T - DAY_MS, note: "cd".repeat(32) };
  const back = { entry_id: 22, kind: "transfer", delta: -1000, counterparty: "asha", memo: COUNTER_REFUND_MEMO, created_at_ms: T + 60_000 };
  // An incoming transfer with the same memo is this account's own purchase at another shop given
  // back by that shop's counter (only the server writes the memo): no sale, not in the takings ...
  const givenBackToMe = { entry_id: 21, kind: "transfer", delta: 700, counterparty: "-x", memo: COUNTER_REFUND_MEMO, created_at_ms: T + 30_000 };
  // ... and an outgoing transfer with another memo is no line of the takings at all.
  const spent = { entry_id: 23, kind: "transfer", delta: -400, counterparty: "supplier", memo: "milk", created_at_ms: T + 90_000 };
  const all = [...items, paid, back, givenBackToMe, spent];
  assert.deepEqual([paid, back, givenBackToMe, spent].map(isReturned), [false, true, false, false]);
  assert.deepEqual([paid, back, givenBackToMe, spent].map(isTaking), [true, false, false, false]);
  // Other kinds or directions with the memo are not returns either.
  assert.equal(isReturned({ ...back, kind: "offline_settle" }), false);
  assert.equal(isReturned({ ...back, memo: `${COUNTER_REFUND_MEMO}.` }), false);
  // Today: 2 payments in (250.00 + 120.50; not the 7.00 given back to me), 10.00 given back: net 360.50.
  assert.deepEqual(takingsOn(all, day(T), day), { total: 36050, count: 2, returned: 1, returnedTotal: 1000 });
  assert.deepEqual(takingsOn([givenBackToMe], day(T), day), { total: 0, count: 0, returned: 0, returnedTotal: 0 });
  // The day it was paid keeps its payment: the return comes off the day it went back.
  assert.deepEqual(takingsOn(all, day(T - DAY_MS), day), { total: 1000, count: 1, returned: 0, returnedTotal: 0 });
  // Only a return that day: the net total is negative.
  assert.deepEqual(takingsOn([back], day(T), day), { total: -1000, count: 0, returned: 1, returnedTotal: 1000 });
  const days = perDay(all, T, 30, day);
  assert.deepEqual(days[29], { day: day(T), total: 36050, count: 2, returned: 1, returnedTotal: 1000 });
  assert.deepEqual(days[28], { day: day(T - DAY_MS), total: 1000, count: 1, returned: 0, returnedTotal: 0 });
  assert.equal(days.reduce((s, d) => s + d.total, 0), 37350, "the 30 days are net: 383.50 in, 10.00 back (not the 7.00 given back to me)");
  const csv = takingsCsv(all, day(T - DAY_MS), day(T), (m) => (m / 100).toFixed(2), day, time);
  assert.equal(csv, [
    "date,time,amount,from,entry id,note id",
    `${day(T - DAY_MS)},10:00:00,10.00,asha,20,${"cd".repeat(32)}`,
    `${day(T)},09:00:00,120.50,ravi,8,${"ab".repeat(32)}`,
    `${day(T)},10:00:00,250.00,asha,9,`,
    `${day(T)},10:01:00,-10.00,asha,22,`,
  ].join("\r\n") + "\r\n");
});

test("the CSV's formula guard: text starting with =, +, - or @ gets a leading ', a plain negative number does not", () => {
  for (const n of ["-10.00", "-10", "-0.50", "-1234567.89", "250.00", "0"]) assert.equal(csvField(n), n, n);
  for (const [v, out] of [
    ["=1+2", "'=1+2"], ["+10.00", "'+10.00"], ["@SUM(A1)", "'@SUM(A1)"], ["-x", "'-x"], ["-10.00+1", "'-10.00+1"], ["-1e5", "'-1e5"],
    ["-", "'-"], ["-.5", "'-.5"], ["-10.", "'-10."], ["--10", "'--10"], ["-10,00", "\"'-10,00\""], ["-10.00\n", "\"'-10.00\n\""],
    ["a,b", "\"a,b\""], ['say "hi"', '"say ""hi"""'], [null, ""], [undefined, ""], [12, "12"], [-1000, "-1000"],
  ]) {
    assert.equal(csvField(v), out, JSON.stringify(v));
  }
});

test("the spoken announcement: rupees and paise in words, other currencies with their code", () => {
  assert.equal(spokenAmount(25000, "INR", 2, "asha"), "Received 250 rupees from asha");
  assert.equal(spokenAmount(25050, "INR", 2, "asha"), "Received 250 rupees 50 paise from asha");
  assert.equal(spokenAmount(1999, "USD", 2, null), "Received 19.99 USD");
});
