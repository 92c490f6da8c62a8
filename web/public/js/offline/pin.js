// The wallet PIN (docs/WEB.md "Wallet PIN and offline unlock", docs/decisions/offline-pin.md): six
// digits set on this device that open the offline purse without the server (after logging out, or
// with no connection) and are asked before paying from the purse or sending. Only a verifier is
// kept: PBKDF2-SHA-256 (WebCrypto) of the PIN with a random salt. Wrong PINs are counted on the
// device; after MAX_WRONG of them in a row the PIN no longer opens anything until the person logs
// in online with the password. Nothing is ever deleted by a lockout.
//
// What this protects: someone who picks up the phone (logged out, or logged in and unlocked)
// cannot pay from the purse or send without the PIN. What it does not: someone who copies the
// browser's storage can try all 10^6 PINs against the verifier on their own computer; and the
// device key can sign for whoever runs code in this origin. Payment apps back the PIN with secure
// hardware (a keystore that counts attempts); a web page cannot.

import { atomic, get, put, remove } from "./db.js";

export const PIN_DIGITS = 6;
export const MAX_WRONG = 5;
/** PBKDF2-SHA-256 iterations (OWASP's 2023 figure for PBKDF2-HMAC-SHA256). */
export const ITERATIONS = 600_000;

const recordKey = (handle) => `pin.${handle}`;
const UNLOCK_KEY = "unlock";

/** True for exactly six ASCII digits. */
export function isPinShaped(pin) {
  return typeof pin === "string" && new RegExp(`^[0-9]{${PIN_DIGITS}}$`).test(pin);
}

async function derive(pin, salt, iterations) {
  const base = await crypto.subtle.importKey("raw", new TextEncoder().encode(pin), "PBKDF2", false, ["deriveBits"]);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, base, 256));
}

/** A new verifier for `pin`: {alg, salt, iterations, verifier} (no PIN in it). */
export async function makeVerifier(pin, iterations = ITERATIONS) {
  if (!isPinShaped(pin)) throw new Error("a PIN is six digits");
  const salt = crypto.getRandomValues(new Uint8Array(16));
  return { alg: "PBKDF2-SHA-256", salt, iterations, verifier: await derive(pin, salt, iterations) };
}

/** Whether `pin` matches the verifier `v` (every byte compared). */
export async function matches(v, pin) {
  if (!isPinShaped(pin) || !v?.verifier) return false;
  const got = await derive(pin, v.salt, v.iterations);
  let diff = got.length ^ v.verifier.length;
  for (let i = 0; i < got.length; i++) diff |= got[i] ^ (v.verifier[i] ?? 0);
  return diff === 0;
}

/** Tries left after `wrong` wrong PINs in a row. */
export const triesLeft = (wrong) => Math.max(0, MAX_WRONG - wrong);

async function record(handle) {
  return (await get("meta", recordKey(handle)))?.v ?? null;
}

/** {set, wrong, locked} for `handle` on this device. */
export async function pinState(handle) {
  const r = await record(handle);
  const wrong = r?.wrong ?? 0;
  return { set: Boolean(r), wrong, locked: Boolean(r) && wrong >= MAX_WRONG };
}

/** Sets (or replaces) this handle's PIN; the wrong-PIN count starts again. */
export async function setPin(handle, pin) {
  const v = await makeVerifier(pin);
  await put("meta", { k: recordKey(handle), v: { ...v, wrong: 0, setMs: Date.now() } });
}

/**
 * Checks `pin` for `handle`: {ok: true}, or {ok: false, left, locked} ({noPin: true} with no PIN
 * set). The attempt is counted before the PIN is derived, in one transaction, so parallel tries
 * (two tabs) cannot get past the limit; the right PIN then sets the count back to zero.
 */
export async function checkPin(handle, pin) {
  const key = recordKey(handle);
  const before = await atomic(["meta"], async (s, result) => {
    const m = await result(s.meta.get(key));
    if (!m) return null;
    const wrong = m.v.wrong ?? 0;
    if (wrong < MAX_WRONG) s.meta.put({ k: key, v: { ...m.v, wrong: wrong + 1 } });
    return m.v;
  });
  if (!before) return { ok: false, noPin: true, left: 0, locked: false };
  const wrong = before.wrong ?? 0;
  if (wrong >= MAX_WRONG) return { ok: false, left: 0, locked: true };
  if (await matches(before, pin)) {
    await resetWrong(handle);
    return { ok: true };
  }
  return { ok: false, left: triesLeft(wrong + 1), locked: wrong + 1 >= MAX_WRONG };
}

/** The wrong-PIN count goes back to zero (the right PIN, or a login with the password). */
export async function resetWrong(handle) {
  const key = recordKey(handle);
  await atomic(["meta"], async (s, result) => {
    const m = await result(s.meta.get(key));
    if (m && m.v.wrong) s.meta.put({ k: key, v: { ...m.v, wrong: 0 } });
  });
}

/**
 * Kept at logout: "offline unlock is possible for `handle` on this device" (only when it has a
 * PIN). No server token is kept: the offline session it opens cannot reach the server.
 */
export async function rememberUnlock(handle) {
  if ((await pinState(handle)).set) await put("meta", { k: UNLOCK_KEY, v: { handle, loggedOutMs: Date.now() } });
}

/** The handle that may be unlocked offline here, with its PIN state, or null. */
export async function unlockable() {
  const m = await get("meta", UNLOCK_KEY);
  if (!m?.v?.handle) return null;
  const state = await pinState(m.v.handle);
  return state.set ? { handle: m.v.handle, ...state } : null;
}

/** An online login: the marker goes (a new one is kept at the next logout). */
export function forgetUnlock() {
  return remove("meta", UNLOCK_KEY);
}
