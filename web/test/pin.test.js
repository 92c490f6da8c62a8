// The wallet PIN's verifier (public/js/offline/pin.js): PBKDF2-SHA-256 through WebCrypto with a
// random salt, no PIN kept; only six digits are a PIN; the tries left after wrong PINs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { pbkdf2Sync } from "node:crypto";
import { isPinShaped, makeVerifier, matches, triesLeft, ITERATIONS, MAX_WRONG } from "../public/js/offline/pin.js";

const FEW = 1000; // iterations for the tests; the app uses ITERATIONS

test("only six ASCII digits are a PIN", () => {
  for (const ok of ["000000", "135790", "999999"]) assert.equal(isPinShaped(ok), true, ok);
  for (const bad of ["", "12345", "1234567", "12345a", " 123456", "１２３４５６", "12 456", null, 123456]) assert.equal(isPinShaped(bad), false, String(bad));
});

test("the verifier is PBKDF2-SHA-256 of the PIN with a random 16-byte salt, and keeps no PIN", async () => {
  const v = await makeVerifier("135790", FEW);
  assert.equal(v.alg, "PBKDF2-SHA-256");
  assert.equal(v.iterations, FEW);
  assert.equal(v.salt.length, 16);
  assert.equal(v.verifier.length, 32);
  const expected = pbkdf2Sync("135790", Buffer.from(v.salt), FEW, 32, "sha256");
  assert.deepEqual(Buffer.from(v.verifier), expected);
  assert.ok(!JSON.stringify(v).includes("135790"));
  const w = await makeVerifier("135790", FEW);
  assert.notDeepEqual(Buffer.from(w.salt), Buffer.from(v.salt), "a new salt each time");
  assert.ok(ITERATIONS >= 600_000);
});

test("the right PIN matches; a wrong one, a non-PIN and a broken record do not", async () => {
  const v = await makeVerifier("246810", FEW);
  assert.equal(await matches(v, "246810"), true);
  assert.equal(await matches(v, "246811"), false);
  assert.equal(await matches(v, "24681"), false);
  assert.equal(await matches({ ...v, verifier: v.verifier.slice(0, 31) }, "246810"), false);
  assert.equal(await matches(null, "246810"), false);
  await assert.rejects(makeVerifier("12345", FEW));
});

test("five wrong PINs in a row leave no tries", () => {
  assert.equal(MAX_WRONG, 5);
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map(triesLeft), [5, 4, 3, 2, 1, 0, 0]);
});
