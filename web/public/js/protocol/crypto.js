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

/** Decodes a public key as dalek's `VerifyingKey::from_bytes` does; null when it is no point. */
export function decodePoint(bytes) {
  try { return Point.fromBytes(bytes, true); } catch { return null; }
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
