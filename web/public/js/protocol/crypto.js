// The web wallet's cryptography, matching the protocol crate (crates/protocol/src/crypto.rs):
// SHA-256 through WebCrypto, and Ed25519 verification with the same rules as ed25519-dalek's
// `verify_strict`: canonical S, canonical point encodings, no small-order public key or R, and the
// cofactorless equation [S]B = R + [k]A. Point arithmetic comes from @noble/ed25519 (vendored).

import { Point } from "../../vendor/noble-ed25519.js";

const L = 2n ** 252n + 27742317777372353535851937790883648493n;

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

async function sha512(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-512", bytes));
}

function leToBigInt(bytes) {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
  return n;
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/**
 * Decodes a public key as the protocol decoder does (wire.rs `public_key`): a curve point given
 * by its canonical encoding (RFC 8032 decoding: y < p, and not x = 0 with the sign bit set,
 * i.e. re-encoding gives the same bytes); null otherwise.
 */
export function decodePoint(bytes) {
  try { return Point.fromBytes(bytes, false); } catch { return null; }
}

/**
 * The protocol's device-key check (crypto::check_device_key): null when `bytes` are the
 * canonical encoding of a point of prime order, else the first failing code of "not_a_point",
 * "non_canonical", "small_order" ([8]A = O) and "mixed_order" (a small-order component:
 * [L]A != O), in that order. Signatures under the keys it refuses are judged differently by
 * different correct-looking verifiers (docs/PROTOCOL.md section 7).
 */
export function checkDeviceKey(bytes) {
  if (bytes?.length !== 32) return "not_a_point";
  let point;
  try { point = Point.fromBytes(bytes, true); } catch { return "not_a_point"; }
  if (!decodePoint(bytes)) return "non_canonical";
  if (point.isSmallOrder()) return "small_order";
  if (!point.isTorsionFree()) return "mixed_order";
  return null;
}

/** Strict Ed25519 verification (see the module comment). Never throws. */
export async function verifyStrict(publicKey, message, signature) {
  if (publicKey?.length !== 32 || signature?.length !== 64) return false;
  const rBytes = signature.subarray(0, 32);
  const s = leToBigInt(signature.subarray(32));
  if (s >= L) return false;
  let A, R;
  try {
    A = Point.fromBytes(publicKey, false);
    R = Point.fromBytes(rBytes, false);
  } catch {
    return false;
  }
  if (A.isSmallOrder() || R.isSmallOrder()) return false;
  const k = leToBigInt(await sha512(concat(rBytes, publicKey, message))) % L;
  const sB = s === 0n ? Point.ZERO : Point.BASE.multiply(s);
  const kA = k === 0n ? Point.ZERO : A.multiply(k);
  return sB.equals(R.add(kA));
}

/** First 4 bytes of SHA-256 of an issuer public key (crypto::key_id). */
export async function keyId(publicKey) {
  return (await sha256(publicKey)).slice(0, 4);
}

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function fromHex(text) {
  if (typeof text !== "string" || text.length % 2 || /[^0-9a-f]/.test(text)) return null;
  return Uint8Array.from(text.match(/../g) ?? [], (b) => parseInt(b, 16));
}

export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}
