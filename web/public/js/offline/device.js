// The device key: an Ed25519 key made on this device whose private half never leaves it.
// Preferred: a non-extractable WebCrypto key kept in IndexedDB. Where the browser has no WebCrypto
// Ed25519, a seed kept in IndexedDB with @noble/ed25519 (vendored) signs instead.

import { get, put } from "./db.js";
import { getPublicKeyAsync, signAsync } from "../../vendor/noble-ed25519.js";

async function webCryptoKey() {
  try {
    const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    const publicKey = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    return { alg: "webcrypto", privateKey: pair.privateKey, publicKey };
  } catch {
    return null;
  }
}

async function nobleKey() {
  const seed = crypto.getRandomValues(new Uint8Array(32));
  return { alg: "noble", seed, publicKey: await getPublicKeyAsync(seed) };
}

/** This user's device key on this device, made on first use. */
export async function deviceKey(handle) {
  const existing = await get("keys", handle);
  if (existing) return existing;
  const made = (await webCryptoKey()) ?? (await nobleKey());
  const record = { handle, ...made };
  await put("keys", record);
  return (await get("keys", handle)) ?? record;
}

/** Signs `bytes` with the device key. */
export async function sign(key, bytes) {
  if (key.alg === "webcrypto") return new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key.privateKey, bytes));
  return signAsync(bytes, key.seed);
}
