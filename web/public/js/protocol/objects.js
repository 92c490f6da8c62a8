// The signed objects (purse certificate, payment request, payment note, purse close, and for card
// payments the shop card and the server's receipt): encode, decode, signed bytes, hash and text
// form, byte-for-byte as crates/protocol does.
// Field values: byte strings are Uint8Array, amounts are Numbers (minor units), account numbers
// and times (Unix seconds) are BigInts, sequence numbers are Numbers.

import * as base45 from "./base45.js";
import { sha256, verifyStrict, checkDeviceKey, concat } from "./crypto.js";
import { KINDS, Writer, Reader, checkLen, signedBytes, fieldRule, fail, SIGNATURE_LEN } from "./wire.js";

export const MAX_TEXT_LEN = 600;
export const HANDLE_MAX_LEN = 32;

export const CERTIFICATE_LEN = 2 + 16 + 4 + 8 + 32 + 3 + 8 + 8 + 8 + 8 + SIGNATURE_LEN;
const REQUEST_FIXED_LEN = 2 + 8 + 32 + 3 + 8 + 16 + 8 + 1;
export const REQUEST_MIN_LEN = REQUEST_FIXED_LEN + SIGNATURE_LEN;
export const NOTE_LEN = 2 + CERTIFICATE_LEN + 4 + 32 + 8 + 8 + 8 + 16 + 8 + SIGNATURE_LEN;
export const CLOSE_LEN = 2 + 16 + 4 + 32 + 8 + 8 + SIGNATURE_LEN;
const CARD_HANDLE_LEN_OFFSET = 2 + 8 + 32 + 3 + 8;
export const CARD_MIN_LEN = CARD_HANDLE_LEN_OFFSET + 1 + 1 + SIGNATURE_LEN;
export const SHOP_NAME_MAX_LEN = 48;
// tag, version, key id, entry id, payer, payee, currency, amount, time, card flag, card, handle length.
const RECEIPT_FIXED_LEN = 2 + 4 + 8 + 8 + 8 + 3 + 8 + 8 + 1 + 4 + 1;
export const RECEIPT_MIN_LEN = RECEIPT_FIXED_LEN + SIGNATURE_LEN;

const enc = new TextEncoder();

// ---- certificate ----

function checkCertificate(f) {
  fieldRule(f.perPaymentCap !== 0, "per_payment_cap", "must be greater than zero");
  fieldRule(f.perPaymentCap <= f.amount, "per_payment_cap", "must not exceed amount");
  fieldRule(f.validFrom < f.validUntil, "valid_until", "must be after valid_from");
}

function certificateUnsigned(f) {
  return new Writer(KINDS.certificate).bytes(f.purseId).bytes(f.issuerKeyId).u64(f.account).bytes(f.deviceKey)
    .bytes(enc.encode(f.currency)).u64(f.amount).u64(f.perPaymentCap).u64(f.validFrom).u64(f.validUntil).finish();
}

export function decodeCertificate(bytes) {
  const r = new Reader(KINDS.certificate, bytes);
  checkLen(bytes.length, CERTIFICATE_LEN);
  const f = {
    purseId: r.array(16), issuerKeyId: r.array(4), account: r.u64(), deviceKey: r.publicKey(),
    currency: r.currency(), amount: r.amount(), perPaymentCap: r.amount(), validFrom: r.u64(), validUntil: r.u64(),
  };
  f.signature = r.signatureAndEnd();
  checkCertificate(f);
  return finishObject("certificate", f, certificateUnsigned(f));
}

// ---- request ----

export function canonicalHandle(text) {
  const t = text.trim().toLowerCase();
  if (t.length < 3 || t.length > HANDLE_MAX_LEN || !/^[a-z][a-z0-9_]*$/.test(t)) return null;
  return t;
}

function requestUnsigned(f) {
  const handle = enc.encode(f.handle ?? "");
  return new Writer(KINDS.request).u64(f.payee).bytes(f.payeeDeviceKey).bytes(enc.encode(f.currency)).u64(f.amount)
    .bytes(f.nonce).u64(f.expiresAt).u8(handle.length).bytes(handle).finish();
}

export function decodeRequest(bytes) {
  const r = new Reader(KINDS.request, bytes);
  if (bytes.length < REQUEST_MIN_LEN) fail("truncated");
  const handleLen = bytes[REQUEST_FIXED_LEN - 1];
  if (handleLen > HANDLE_MAX_LEN) fail("bad_handle");
  checkLen(bytes.length, REQUEST_MIN_LEN + handleLen);
  const f = {
    payee: r.u64(), payeeDeviceKey: r.publicKey(), currency: r.currency(), amount: r.amount(),
    nonce: r.array(16), expiresAt: r.u64(),
  };
  f.handle = readHandle(r);
  f.signature = r.signatureAndEnd();
  fieldRule(f.amount !== 0, "amount", "must be greater than zero");
  return finishObject("request", f, requestUnsigned(f));
}

/** A length byte and that many bytes of canonical handle, or null for length 0 (bad_handle). */
function readHandle(r) {
  const len = r.u8();
  if (len === 0) return null;
  let text;
  try { text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(r.array(len)); } catch { fail("bad_handle"); }
  if (canonicalHandle(text) !== text) fail("bad_handle");
  return text;
}

// ---- note ----

function noteUnsigned(f) {
  return new Writer(KINDS.note).bytes(f.certificate.encoded).u32(f.seq).bytes(f.prevHash).u64(f.cumulative)
    .u64(f.amount).u64(f.payee).bytes(f.nonce).u64(f.time).finish();
}

function checkNote(f) {
  fieldRule(f.seq >= 1, "seq", "must be at least 1");
  fieldRule(f.amount !== 0, "amount", "must be greater than zero");
  fieldRule(f.cumulative >= f.amount, "cumulative", "must be at least amount");
}

export function decodeNote(bytes) {
  const r = new Reader(KINDS.note, bytes);
  checkLen(bytes.length, NOTE_LEN);
  const certificate = decodeCertificate(r.array(CERTIFICATE_LEN));
  const f = {
    certificate, seq: r.u32(), prevHash: r.array(32), cumulative: r.amount(), amount: r.amount(),
    payee: r.u64(), nonce: r.array(16), time: r.u64(),
  };
  f.signature = r.signatureAndEnd();
  checkNote(f);
  return finishObject("note", f, noteUnsigned(f));
}

// ---- close ----

function closeUnsigned(f) {
  return new Writer(KINDS.close).bytes(f.purseId).u32(f.lastSeq).bytes(f.lastHash).u64(f.totalSpent).u64(f.time).finish();
}

export function decodeClose(bytes) {
  const r = new Reader(KINDS.close, bytes);
  checkLen(bytes.length, CLOSE_LEN);
  const f = { purseId: r.array(16), lastSeq: r.u32(), lastHash: r.array(32), totalSpent: r.amount(), time: r.u64() };
  f.signature = r.signatureAndEnd();
  fieldRule((f.lastSeq === 0) === (f.totalSpent === 0), "total_spent", "must be zero exactly when last_seq is zero");
  return finishObject("close", f, closeUnsigned(f));
}

// ---- shop card ----

// Unicode White_Space (Rust's char::is_whitespace): JavaScript's \s differs (it has U+FEFF).
const WHITE_SPACE = /^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/u;
// Controls (Cc), line and paragraph separators, byte order mark, bidirectional formatting.
const REFUSED = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufeff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

/** Is `text` an acceptable shop name (ShopName::parse): 1 to 48 UTF-8 bytes, nothing that does not print, no space at either end? */
export function isShopName(text) {
  const chars = [...text];
  const n = enc.encode(text).length;
  return n >= 1 && n <= SHOP_NAME_MAX_LEN && !WHITE_SPACE.test(chars[0]) && !WHITE_SPACE.test(chars[chars.length - 1]) && !REFUSED.test(text);
}

function cardUnsigned(f) {
  const handle = enc.encode(f.handle ?? "");
  const name = enc.encode(f.name);
  return new Writer(KINDS.card).u64(f.payee).bytes(f.shopDeviceKey).bytes(enc.encode(f.currency)).u64(f.issuedAt)
    .u8(handle.length).bytes(handle).u8(name.length).bytes(name).finish();
}

function checkCard(f) {
  if (!isShopName(f.name)) fail("bad_name");
}

export function decodeCard(bytes) {
  const r = new Reader(KINDS.card, bytes);
  if (bytes.length < CARD_MIN_LEN) fail("truncated");
  const handleLen = bytes[CARD_HANDLE_LEN_OFFSET];
  if (handleLen > HANDLE_MAX_LEN) fail("bad_handle");
  const nameLen = bytes[CARD_HANDLE_LEN_OFFSET + 1 + handleLen];
  if (nameLen > SHOP_NAME_MAX_LEN) fail("bad_name");
  checkLen(bytes.length, CARD_MIN_LEN + handleLen + nameLen);
  const f = { payee: r.u64(), shopDeviceKey: r.publicKey(), currency: r.currency(), issuedAt: r.u64() };
  f.handle = readHandle(r);
  const raw = r.array(r.u8());
  try { f.name = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(raw); } catch { fail("bad_name"); }
  checkCard(f);
  f.signature = r.signatureAndEnd();
  return finishObject("card", f, cardUnsigned(f));
}

/**
 * Makes a shop card (4.5) from {payee: BigInt, shopDeviceKey, currency, issuedAt: BigInt, handle|null, name}, signed with
 * `sign(bytes) -> Promise<Uint8Array(64)>`; refuses a name isShopName refuses (DecodeError "bad_name").
 */
export function encodeCard(fields, sign) {
  return signObject("card", fields, sign);
}

// ---- receipt ----

function receiptUnsigned(f) {
  const handle = enc.encode(f.payerHandle ?? "");
  return new Writer(KINDS.receipt).bytes(f.issuerKeyId).u64(f.entryId).u64(f.payer).u64(f.payee).bytes(enc.encode(f.currency))
    .u64(f.amount).u64(f.time).u8(f.card ? 1 : 0).bytes(f.card ?? new Uint8Array(4)).u8(handle.length).bytes(handle).finish();
}

export function decodeReceipt(bytes) {
  const r = new Reader(KINDS.receipt, bytes);
  if (bytes.length < RECEIPT_MIN_LEN) fail("truncated");
  const handleLen = bytes[RECEIPT_FIXED_LEN - 1];
  if (handleLen > HANDLE_MAX_LEN) fail("bad_handle");
  checkLen(bytes.length, RECEIPT_MIN_LEN + handleLen);
  const f = {
    issuerKeyId: r.array(4), entryId: r.u64(), payer: r.u64(), payee: r.u64(), currency: r.currency(), amount: r.amount(),
    time: r.u64(),
  };
  const cardFlag = r.u8();
  const card = r.array(4);
  fieldRule(cardFlag === 1 || (cardFlag === 0 && card.every((b) => b === 0)), "card", "flag 0 with four zero bytes, or flag 1");
  f.card = cardFlag === 1 ? card : null;
  f.payerHandle = readHandle(r);
  f.signature = r.signatureAndEnd();
  fieldRule(f.amount !== 0, "amount", "must be greater than zero");
  return finishObject("receipt", f, receiptUnsigned(f));
}

// ---- common ----

const UNSIGNED = {
  certificate: certificateUnsigned, request: requestUnsigned, note: noteUnsigned, close: closeUnsigned, card: cardUnsigned,
  receipt: receiptUnsigned,
};
const DECODE = {
  certificate: decodeCertificate, request: decodeRequest, note: decodeNote, close: decodeClose, card: decodeCard,
  receipt: decodeReceipt,
};
const CHECK = {
  certificate: checkCertificate, note: checkNote, card: checkCard,
  receipt: (f) => fieldRule(f.amount !== 0, "amount", "must be greater than zero"),
  request: (f) => fieldRule(f.amount !== 0, "amount", "must be greater than zero"),
  close: (f) => fieldRule((f.lastSeq === 0) === (f.totalSpent === 0), "total_spent", "must be zero exactly when last_seq is zero"),
};

function finishObject(kind, f, unsigned) {
  f.kind = kind;
  f.signedBytes = signedBytes(KINDS[kind], unsigned);
  f.encoded = concat(unsigned, f.signature);
  return f;
}

/** Signs `fields` of `kind` with `sign(bytes) -> Promise<Uint8Array(64)>`; returns the object. */
export async function signObject(kind, fields, sign) {
  CHECK[kind](fields);
  const unsigned = UNSIGNED[kind](fields);
  const signature = await sign(signedBytes(KINDS[kind], unsigned));
  return finishObject(kind, { ...fields, signature }, unsigned);
}

/** SHA-256 of the signed bytes: the object's hash (note hash, certificate hash...). */
export function hashOf(obj) {
  return sha256(obj.signedBytes);
}

export function verifySignature(obj, publicKey) {
  return verifyStrict(publicKey, obj.signedBytes, obj.signature);
}

/**
 * The signature check of a payment request (PaymentRequest::verify without the expiry): the
 * payee device key must pass checkDeviceKey and sign the request strictly; false means
 * `bad_request_signature`.
 */
export async function verifyRequestSignature(req) {
  return checkDeviceKey(req.payeeDeviceKey) === null && (await verifySignature(req, req.payeeDeviceKey));
}

export function toText(obj) {
  return KINDS[obj.kind].prefix + base45.encode(obj.encoded);
}

/** Text form -> bytes, strictly (text::text_to_bytes). */
export function textToBytes(kind, text) {
  const t = String(text).trim();
  if (enc.encode(t).length > MAX_TEXT_LEN) fail("text_too_long", `the text is longer than ${MAX_TEXT_LEN} characters`);
  const prefix = KINDS[kind].prefix;
  if (!t.startsWith(prefix)) fail("text_prefix", `the text does not start with ${prefix}`);
  const body = t.slice(prefix.length);
  const bytes = base45.decode(body);
  if (!bytes || base45.encode(bytes) !== body) fail("text_encoding", "the text is not canonical base45");
  return bytes;
}

export function fromText(kind, text) {
  return DECODE[kind](textToBytes(kind, text));
}

export function decode(kind, bytes) {
  return DECODE[kind](bytes);
}
