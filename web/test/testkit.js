// Deterministic test keys, made like the protocol crate's testkit: seed = SHA-256("offpay-testkit/"
// + label), so the web tests sign with the same keys as the Rust tests and vectors.
import { createHash, createPrivateKey, createPublicKey, sign as nodeSign } from "node:crypto";

/** SHA-256 of a string or bytes, as a Buffer. */
export const sha = (s) => createHash("sha256").update(s).digest();

/** The Ed25519 key of `label`: its public key and an async signer, as the protocol code takes them. */
export function key(label) {
  const seed = sha(`offpay-testkit/${label}`);
  const priv = createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]), format: "der", type: "pkcs8" });
  const pub = Buffer.from(createPublicKey(priv).export({ format: "jwk" }).x, "base64url");
  return { publicKey: new Uint8Array(pub), sign: async (bytes) => new Uint8Array(nodeSign(null, bytes, priv)) };
}

/** 16 bytes derived from `label` (purse ids and nonces in tests). */
export const bytes16 = (label) => new Uint8Array(sha(label).subarray(0, 16));
