// The canonical binary layout of the offline objects (docs/PROTOCOL.md, crates/protocol/src/wire.rs):
// kind tag byte, version byte, fixed-width little-endian integers, fixed-size byte strings, then a
// 64-byte signature. Reader checks in the same order as the Rust code, so both refuse the same
// bytes with the same error code.

import { decodePoint } from "./crypto.js";

export const SIGNATURE_LEN = 64;
export const MAX_AMOUNT = 2 ** 53 - 1;

export const KINDS = {
  certificate: { tag: 0x43, version: 1, domain: "offpay/purse-certificate/v1\0", prefix: "OPC1:", name: "purse_certificate" },
  request: { tag: 0x52, version: 1, domain: "offpay/payment-request/v1\0", prefix: "OPR1:", name: "payment_request" },
  note: { tag: 0x4e, version: 1, domain: "offpay/payment-note/v1\0", prefix: "OPN1:", name: "payment_note" },
  close: { tag: 0x58, version: 1, domain: "offpay/purse-close/v1\0", prefix: "OPX1:", name: "purse_close" },
  card: { tag: 0x53, version: 1, domain: "offpay/shop-card/v1\0", prefix: "OPS1:", name: "shop_card" },
  // Version 2: receipts name the shop card paid (docs/PROTOCOL.md 4.6).
  receipt: { tag: 0x54, version: 2, domain: "offpay/receipt/v2\0", prefix: "OPT2:", name: "receipt" },
};

/** A decode failure with the protocol crate's stable code (DecodeError::code). */
export class DecodeError extends Error {
  constructor(code, message) {
    super(message ?? code);
    this.code = code;
  }
}

export const fail = (code, message) => { throw new DecodeError(code, message); };

export function fieldRule(ok, field, rule) {
  if (!ok) fail("invalid_field", `invalid field \`${field}\`: ${rule}`);
}

export class Writer {
  constructor(kind) {
    this.parts = [kind.tag, kind.version];
  }
  bytes(b) { for (const x of b) this.parts.push(x); return this; }
  u8(v) { this.parts.push(v & 0xff); return this; }
  u32(v) {
    for (let i = 0; i < 4; i++) this.parts.push(Number((BigInt(v) >> BigInt(8 * i)) & 0xffn));
    return this;
  }
  u64(v) {
    const n = BigInt(v);
    for (let i = 0; i < 8; i++) this.parts.push(Number((n >> BigInt(8 * i)) & 0xffn));
    return this;
  }
  finish() { return Uint8Array.from(this.parts); }
}

export class Reader {
  constructor(kind, bytes) {
    if (bytes.length < 1) fail("truncated");
    if (bytes[0] !== kind.tag) fail("wrong_tag", `the data is not a ${kind.name}`);
    if (bytes.length < 2) fail("truncated");
    if (bytes[1] !== kind.version) fail("unsupported_version", `unsupported format version ${bytes[1]}`);
    this.bytes = bytes;
    this.pos = 2;
  }
  array(n) {
    if (this.bytes.length - this.pos < n) fail("truncated");
    const out = this.bytes.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  u8() { return this.array(1)[0]; }
  u32() { const b = this.array(4); return (b[0] | (b[1] << 8) | (b[2] << 16)) + b[3] * 2 ** 24; }
  /** u64 as a BigInt. */
  u64() {
    const b = this.array(8);
    let n = 0n;
    for (let i = 7; i >= 0; i--) n = (n << 8n) | BigInt(b[i]);
    return n;
  }
  /** An amount as a Number (at most 2^53 - 1, like Amount::MAX). */
  amount() {
    const n = this.u64();
    if (n > BigInt(MAX_AMOUNT)) fail("amount_out_of_range");
    return Number(n);
  }
  publicKey() {
    const b = this.array(32);
    if (!decodePoint(b)) fail("bad_public_key");
    return b;
  }
  currency() {
    const b = this.array(3);
    if (!b.every((c) => c >= 0x41 && c <= 0x5a)) fail("bad_currency");
    return String.fromCharCode(...b);
  }
  signatureAndEnd() {
    const sig = this.array(SIGNATURE_LEN);
    if (this.pos !== this.bytes.length) fail("trailing_bytes");
    return sig;
  }
}

export function checkLen(actual, expected) {
  if (actual < expected) fail("truncated");
  if (actual > expected) fail("trailing_bytes");
}

/** `domain || unsigned encoding`: the bytes a signature covers. */
export function signedBytes(kind, unsigned) {
  const d = new TextEncoder().encode(kind.domain);
  const out = new Uint8Array(d.length + unsigned.length);
  out.set(d);
  out.set(unsigned, d.length);
  return out;
}
