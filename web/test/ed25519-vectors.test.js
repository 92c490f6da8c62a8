// The web wallet's Ed25519 verifier and device-key check over outside test vectors: every
// Wycheproof Ed25519 test and the 12 cases of "Taming the many EdDSAs", exported with the
// protocol crate's verdicts to testdata/ed25519-verify-vectors.json (no network). The web
// wallet must say exactly what crates/protocol says on every one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { verifyStrict, checkDeviceKey, fromHex } from "../public/js/protocol/crypto.js";

const FILE = JSON.parse(readFileSync(new URL("../../testdata/ed25519-verify-vectors.json", import.meta.url), "utf8"));

async function disagreements(source) {
  const out = [];
  for (const v of FILE.vectors.filter((x) => x.source === source)) {
    const pk = fromHex(v.public_key);
    const strict = await verifyStrict(pk, fromHex(v.message), fromHex(v.signature));
    const key = checkDeviceKey(pk);
    if (strict !== v.verify_strict) out.push(`${source} ${v.id} (${v.comment}): verifyStrict ${strict}, protocol crate ${v.verify_strict}`);
    if (key !== v.device_key_error) out.push(`${source} ${v.id}: checkDeviceKey ${key}, protocol crate ${v.device_key_error}`);
  }
  return out;
}

test("wycheproof Ed25519: the web verifier accepts exactly the valid tests, as the protocol crate does", async () => {
  const vectors = FILE.vectors.filter((v) => v.source === "wycheproof");
  assert.ok(vectors.length >= 150, `${vectors.length} Wycheproof vectors`);
  for (const v of vectors) assert.equal(v.verify_strict, v.expected === "valid", `tcId ${v.id}: ${v.expected}`);
  assert.deepEqual(await disagreements("wycheproof"), []);
});

test("Taming the many EdDSAs: the web verifier and device-key check agree with the protocol crate on all 12 cases", async () => {
  const vectors = FILE.vectors.filter((v) => v.source === "taming");
  assert.equal(vectors.length, 12);
  // Only case 3 (mixed-order A and R, both equations hold) verifies strictly; its key is refused.
  assert.deepEqual(vectors.filter((v) => v.verify_strict).map((v) => [v.id, v.device_key_error]), [[3, "mixed_order"]]);
  assert.deepEqual(await disagreements("taming"), []);
});
