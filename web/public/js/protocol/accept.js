// The payee's offline acceptance check (crates/protocol/src/accept.rs), in the same order, with
// the same reason codes. Pure apart from hashing: the caller passes who it is, its open requests,
// its tally of notes from the note's purse, the cached issuer keys and revocations, and the time.
// Card payments (accept_card.rs, shop_card.rs, receipt.rs): the shop's check of a note made
// without a request, the customer's check of a shop card, the shop's check of a server receipt.

import { hashOf, verifySignature, fromText } from "./objects.js";
import { equalBytes, hex, keyId as computeKeyId, checkDeviceKey, concat } from "./crypto.js";
import { DecodeError } from "./wire.js";

/** Plain-words sentences for each reason code (shown on "Payment failed"). */
export const REASONS = {
  malformed: "The payment note is damaged or is not an offpay payment note.",
  unknown_issuer_key: "The purse certificate was issued with a key this device does not know. Go online once to update.",
  issuer_key_not_valid: "The issuer key was not valid when the purse certificate was issued.",
  bad_issuer_signature: "The issuer's signature on the purse certificate is not valid.",
  certificate_not_yet_valid: "The payer's purse is not valid yet.",
  certificate_expired: "The payer's purse has expired.",
  bad_device_signature: "The payer device's signature is not valid: the note was changed or forged.",
  bad_request_signature: "The payee's signature on the payment request is not valid: the request was changed or forged.",
  revoked: "The payer's purse or device has been blocked.",
  bad_chain_start: "The first note of the purse does not start from its certificate.",
  wrong_payee: "The note pays someone else.",
  already_accepted: "This note was already accepted.",
  unknown_request: "The note answers no open payment request on this device.",
  request_already_paid: "This payment request was already paid.",
  request_expired: "The payment request has expired.",
  amount_mismatch: "The note's amount differs from the requested amount.",
  over_payment_cap: "The amount is over the purse's limit per payment.",
  over_note_limit: "The payer's purse has made all the payments one purse may make: the payer must load a new one.",
  over_purse_amount: "The payer's purse does not hold enough for this payment.",
  inconsistent_with_earlier_note: "The note contradicts an earlier note from the same purse.",
  wrong_purse: "The close statement belongs to another purse.",
  tally_mismatch: "Internal error: the purse tally belongs to another purse.",
  bad_card_signature: "The shop card's signature is not valid: the card was changed or forged.",
  // Nothing promised: a note for another card is checked no further (the card step comes before
  // the cap, purse amount and tally checks), nothing here keeps it, and it may never be paid.
  wrong_card: "The payment was made for another card of this shop, so this counter does not take it. Hand over nothing for it: if the shop has another counter, the payer can show it there; if no counter of the shop took it and it reaches the shop's account when the payer's phone goes online, give it back from the shop's history.",
  nonce_replayed: "This payment was already received (the same payment code was shown before).",
  stale_note: "The payer's clock is too far from this device's, so this counter does not take the code. The shop does not keep this payment: when this device is next online it gives it back to the payer (taking it back from the shop's balance if the payer's phone was online first). The payer can set the phone's clock right and pay again.",
  wrong_currency: "The payment is in another currency.",
  bad_receipt_signature: "The receipt's signature is not valid: the receipt was changed or forged.",
  receipt_for_another_payee: "The receipt is for a payment to someone else.",
  receipt_replayed: "This receipt was already accepted.",
  stale_receipt: "The receipt is too old.",
};

/** The most notes one purse may sign (MAX_NOTES_PER_PURSE in crates/protocol/src/purse.rs). */
export const MAX_NOTES_PER_PURSE = 1000;

export class RejectError extends Error {
  constructor(code, detail) {
    super(REASONS[code] ?? code);
    this.code = code;
    this.detail = detail;
  }
}

const reject = (code, detail) => { throw new RejectError(code, detail); };

/**
 * A receipt's refusals where its money is already in the shop's account (the payment was made
 * online), said so: the shop must neither hand over goods blindly nor ask for a second payment.
 */
export const RECEIPT_REASONS = {
  wrong_card: "This receipt is for a payment made at another counter of this shop (or it names no counter), so this counter does not take it. Its money is already in the shop's account: the customer can show it at the counter whose card was paid.",
  stale_receipt: "This receipt is for a payment made too long ago to be taken for goods now (it may have paid for something else). Its money is already in the shop's account: look for it in the shop's history with the customer, and do not ask for a second payment for goods it paid.",
};

/** Issuer-key checks of a certificate (PurseCertificate::verify_issuer). issuerKeys: [{keyId, publicKey, notBefore, notAfter}] (BigInt times). */
export async function verifyIssuer(cert, issuerKeys) {
  const key = issuerKeys.find((k) => equalBytes(k.keyId, cert.issuerKeyId));
  if (!key) reject("unknown_issuer_key");
  if (!(key.notBefore <= cert.validFrom && cert.validFrom <= key.notAfter)) reject("issuer_key_not_valid");
  if (!(await verifySignature(cert, key.publicKey))) reject("bad_issuer_signature");
}

export function checkWindow(cert, now) {
  if (now < cert.validFrom) reject("certificate_not_yet_valid");
  if (now > cert.validUntil) reject("certificate_expired");
}

/** An issuer key record with its key id computed from the public key. */
export async function issuerKey(publicKey, notBefore, notAfter) {
  return { keyId: await computeKeyId(publicKey), publicKey, notBefore: BigInt(notBefore), notAfter: BigInt(notAfter) };
}

/** Are two tally entries of one purse consistent (accept::consistent)? Entries: {hash, prevHash, cumulative, amount}. */
export function consistent(sa, a, sb, b) {
  if (sa === sb) return equalBytes(a.hash, b.hash);
  const [loSeq, lo, hiSeq, hi] = sa < sb ? [sa, a, sb, b] : [sb, b, sa, a];
  const beforeHi = hi.cumulative - hi.amount;
  if (beforeHi < 0) return false;
  if (loSeq + 1 === hiSeq) return equalBytes(hi.prevHash, lo.hash) && beforeHi === lo.cumulative;
  const between = hiSeq - loSeq - 1;
  const gap = beforeHi - lo.cumulative;
  return gap >= 0 && gap >= between;
}

/**
 * Checks a decoded note. ctx: {me: BigInt account, openRequests: [{nonce, amount, expiresAt (BigInt), paid}],
 * issuerKeys, revocations: {purses: Set(hex), devices: Set(hex)}, now: BigInt}. tally: {purseId, notes: Map(seq -> entry)}.
 * Returns {noteHash, purseId, payer, seq, amount, nonce, tally} or throws RejectError.
 */
export async function acceptNote(note, tally, ctx) {
  return acceptWith(note, tally, ctx, ctx.me, () => {
    const request = ctx.openRequests.find((r) => equalBytes(r.nonce, note.nonce));
    if (!request) reject("unknown_request");
    if (request.paid) reject("request_already_paid");
    if (ctx.now > request.expiresAt) reject("request_expired");
    if (request.amount !== note.amount) reject("amount_mismatch");
  });
}

/**
 * Rows 16 and 17 of section 9: the note (`seq`, tally entry `entry`) keeps the purse's total within
 * `cert.amount`, and the tally's sum with it, and agrees with every note of `tally`. Synchronous
 * (no hashing), so the payee device runs it again inside the IndexedDB transaction that stores
 * the note, against the tally as stored then (two acceptances at once must not both pass against
 * the same older tally). Throws RejectError.
 */
export function checkTally(tally, cert, seq, entry) {
  let taken = 0;
  for (const e of tally.notes.values()) taken += e.amount;
  if (entry.cumulative > cert.amount || taken + entry.amount > cert.amount) reject("over_purse_amount");
  for (const [earlierSeq, earlier] of tally.notes) {
    if (!consistent(earlierSeq, earlier, seq, entry)) reject("inconsistent_with_earlier_note");
  }
}

/**
 * The checks every acceptance shares (accept::accept_with), with the request or card step `answers` in the middle.
 * `verifyIssuerToo` is false only for cardNoteFitsButForIssuer (never to accept a note).
 */
async function acceptWith(note, tally, ctx, me, answers, verifyIssuerToo = true) {
  const cert = note.certificate;
  const t = tally ?? { purseId: cert.purseId, notes: new Map() };
  if (!equalBytes(t.purseId, cert.purseId)) reject("tally_mismatch");
  if (verifyIssuerToo) await verifyIssuer(cert, ctx.issuerKeys);
  checkWindow(cert, ctx.now);
  if (!(await verifySignature(note, cert.deviceKey))) reject("bad_device_signature");
  const rev = ctx.revocations ?? { purses: new Set(), devices: new Set() };
  if (rev.purses.has(hex(cert.purseId)) || rev.devices.has(hex(cert.deviceKey))) reject("revoked");
  if (note.seq === 1 && (!equalBytes(note.prevHash, await hashOf(cert)) || note.cumulative !== note.amount)) reject("bad_chain_start");
  if (note.payee !== me) reject("wrong_payee");
  const hash = await hashOf(note);
  if (t.notes.get(note.seq) && equalBytes(t.notes.get(note.seq).hash, hash)) reject("already_accepted");
  await answers();
  if (note.amount > cert.perPaymentCap) reject("over_payment_cap");
  if (note.seq > MAX_NOTES_PER_PURSE) reject("over_note_limit");
  const entry = { hash, prevHash: note.prevHash, cumulative: note.cumulative, amount: note.amount };
  checkTally(t, cert, note.seq, entry);
  const notes = new Map(t.notes);
  notes.set(note.seq, entry);
  return { noteHash: hash, purseId: cert.purseId, payer: cert.account, seq: note.seq, amount: note.amount, nonce: note.nonce, tally: { purseId: cert.purseId, notes } };
}

// ---- card payments ----

/** The customer's check of a scanned shop card (ShopCard::verify); throws RejectError("bad_card_signature"). */
export async function verifyCard(card) {
  if (checkDeviceKey(card.shopDeviceKey) !== null || !(await verifySignature(card, card.shopDeviceKey))) reject("bad_card_signature");
}

/** The 4 bytes every note paying `card` starts its nonce with (ShopCard::nonce_prefix). */
export async function cardNoncePrefix(card) {
  return (await hashOf(card)).slice(0, 4);
}

/** The nonce of a note paying `card`: its prefix, then 12 bytes `random` drawn fresh per payment (card_nonce). */
export async function cardNonce(card, random) {
  if (random.length !== 12) throw new Error("cardNonce needs 12 random bytes");
  return concat(await cardNoncePrefix(card), random);
}

/**
 * The shop's check of a note without a request (accept_card_note). ctx: {card (decoded, mine), seenNonces: Set(hex) of every
 * nonce I saw (my notes and my requests), window: BigInt seconds, issuerKeys, revocations, now: BigInt}.
 */
export async function acceptCardNote(note, tally, ctx) {
  return checkCardNote(note, tally, ctx, true);
}

/**
 * acceptCardNote without the issuer checks (`unknown_issuer_key`, `issuer_key_not_valid`,
 * `bad_issuer_signature`; card_note_fits_but_for_issuer): whether a note refused because this
 * device does not know its certificate's issuer key is otherwise fit. NEVER a reason to accept a
 * note: only to keep one refused at the counter so that it is given back (the server, which knows
 * every issuer key, checks it in full then; offline/shop.js). Its certificate is unchecked, so its
 * purse id may be forged: the tally it returns must not be stored.
 */
export async function cardNoteFitsButForIssuer(note, tally, ctx) {
  return checkCardNote(note, tally, ctx, false);
}

/** The card check (accept_card_note), with the issuer checks when `verifyIssuerToo`. */
async function checkCardNote(note, tally, ctx, verifyIssuerToo) {
  const prefix = await cardNoncePrefix(ctx.card);
  return acceptWith(note, tally, ctx, ctx.card.payee, () => {
    if (!equalBytes(note.nonce.slice(0, 4), prefix)) reject("wrong_card");
    if (note.certificate.currency !== ctx.card.currency) reject("wrong_currency");
    if (ctx.seenNonces.has(hex(note.nonce))) reject("nonce_replayed");
    const diff = note.time > ctx.now ? note.time - ctx.now : ctx.now - note.time;
    if (diff > ctx.window) reject("stale_note");
  }, verifyIssuerToo);
}

/**
 * The shop's offline check of a server receipt (Receipt::check). ctx: {me: BigInt, currency, cardPrefix (my card's 4 bytes), issuerKeys, seenEntries: Set(BigInt),
 * now: BigInt, maxAge: BigInt}.
 */
export async function checkReceipt(receipt, ctx) {
  const key = ctx.issuerKeys.find((k) => equalBytes(k.keyId, receipt.issuerKeyId));
  if (!key) reject("unknown_issuer_key");
  if (!(key.notBefore <= receipt.time && receipt.time <= key.notAfter)) reject("issuer_key_not_valid");
  if (!(await verifySignature(receipt, key.publicKey))) reject("bad_receipt_signature");
  if (receipt.payee !== ctx.me) reject("receipt_for_another_payee");
  if (receipt.currency !== ctx.currency) reject("wrong_currency");
  if (!receipt.card || !equalBytes(receipt.card, ctx.cardPrefix)) reject("wrong_card");
  if (ctx.seenEntries.has(receipt.entryId)) reject("receipt_replayed");
  if (receipt.time + ctx.maxAge < ctx.now) reject("stale_receipt");
}

/** Decodes note text and checks it; decode failures become RejectError("malformed"). */
export async function acceptNoteText(text, tally, ctx) {
  let note;
  try {
    note = fromText("note", text);
  } catch (e) {
    if (e instanceof DecodeError) reject("malformed", e.code);
    throw e;
  }
  return { note, accepted: await acceptNote(note, tally, ctx) };
}

/** Decodes note text and runs the card-payment check (accept_card_note_text); decode failures become RejectError("malformed"). */
export async function acceptCardNoteText(text, tally, ctx) {
  let note;
  try {
    note = fromText("note", text);
  } catch (e) {
    if (e instanceof DecodeError) reject("malformed", e.code);
    throw e;
  }
  return { note, accepted: await acceptCardNote(note, tally, ctx) };
}

/** Checks a purse close statement against its certificate (CloseStatement::verify). */
export async function verifyClose(close, cert) {
  if (!equalBytes(close.purseId, cert.purseId)) reject("wrong_purse");
  if (!(await verifySignature(close, cert.deviceKey))) reject("bad_device_signature");
  if (close.lastSeq === 0 && !equalBytes(close.lastHash, await hashOf(cert))) reject("bad_chain_start");
  if (close.totalSpent > cert.amount) reject("over_purse_amount");
}
