// The web wallet's purse close statement (public/js/protocol/close.js) against the protocol
// crate's test vectors: from the purse state the payer device keeps (last seq, last hash, spent)
// and the vector's device key it signs the exact bytes and text of `close_valid` and
// `close_valid_empty`, laid out as docs/PROTOCOL.md 4.4 says; a state or key that does not
// belong to the certificate, or an inconsistent state, signs nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createPrivateKey, sign as nodeSign } from "node:crypto";
import { closeStatement, CloseError } from "../public/js/protocol/close.js";
import { decode, hashOf, toText, fromText, CLOSE_LEN } from "../public/js/protocol/objects.js";
import { verifyClose } from "../public/js/protocol/accept.js";
import { hex, fromHex } from "../public/js/protocol/crypto.js";
import { DecodeError } from "../public/js/protocol/wire.js";

const V = JSON.parse(readFileSync(new URL("../../testdata/protocol-vectors.json", import.meta.url), "utf8"));
const vector = (name) => V.vectors.find((v) => v.name === name);

function signer(seedHex) {
  const priv = createPrivateKey({ key: Buffer.from("302e020100300506032b657004220420" + seedHex, "hex"), format: "der", type: "pkcs8" });
  let calls = 0;
  const sign = async (bytes) => { calls += 1; return new Uint8Array(nodeSign(null, bytes, priv)); };
  return { sign, calls: () => calls };
}

const device = V.keys.payer_device;

function stateOf(v, cert) {
  return { purseId: cert.purseId, lastSeq: v.fields.last_seq, lastHash: fromHex(v.fields.last_hash), spent: v.fields.total_spent };
}

for (const name of ["close_valid", "close_valid_empty"]) {
  test(`${name}: the device's purse state signs the vector's exact bytes and text`, async () => {
    const v = vector(name);
    assert.ok(v, `vector ${name} exists`);
    assert.equal(v.signer_public_key, device.public_key);
    const cert = decode("certificate", fromHex(v.context.certificate));
    const s = signer(device.seed);
    const close = await closeStatement(cert, stateOf(v, cert), fromHex(device.public_key), BigInt(v.fields.time), s.sign);
    assert.equal(s.calls(), 1);
    assert.equal(close.encoded.length, CLOSE_LEN);
    assert.equal(CLOSE_LEN, 134);
    assert.equal(hex(close.encoded), v.encoded);
    assert.equal(hex(close.signedBytes), v.signed_bytes);
    assert.equal(toText(close), v.text);
    assert.ok(toText(close).startsWith("OPX1:"));
    assert.equal(hex(await hashOf(close)), v.fields.hash);
    await verifyClose(close, cert);
    assert.deepEqual(fromText("close", toText(close)).encoded, close.encoded);

    // Byte by byte as docs/PROTOCOL.md 4.4: tag, version, purse id, last_seq, last_hash,
    // total_spent, time (little-endian), then the 64-byte signature over domain || bytes [0, 70).
    const b = close.encoded;
    const view = new DataView(b.buffer, b.byteOffset, b.length);
    assert.equal(b[0], 0x58);
    assert.equal(b[1], 0x01);
    assert.equal(hex(b.subarray(2, 18)), hex(cert.purseId));
    assert.equal(view.getUint32(18, true), v.fields.last_seq);
    assert.equal(hex(b.subarray(22, 54)), v.fields.last_hash);
    assert.equal(view.getBigUint64(54, true), BigInt(v.fields.total_spent));
    assert.equal(view.getBigUint64(62, true), BigInt(v.fields.time));
    assert.equal(hex(b.subarray(70)), v.signature);
    assert.equal(hex(close.signedBytes), hex(new TextEncoder().encode("offpay/purse-close/v1\0")) + hex(b.subarray(0, 70)));
  });
}

test("close_valid_empty: a purse that paid nothing closes on its certificate hash", async () => {
  const v = vector("close_valid_empty");
  const cert = decode("certificate", fromHex(v.context.certificate));
  assert.equal(v.fields.last_hash, hex(await hashOf(cert)));
  assert.equal(v.fields.last_seq, 0);
  assert.equal(v.fields.total_spent, 0);
});

test("a state of another purse, another device's key or an inconsistent state signs nothing", async () => {
  const v = vector("close_valid");
  const cert = decode("certificate", fromHex(v.context.certificate));
  const s = signer(device.seed);
  const now = BigInt(v.fields.time);

  const other = { ...stateOf(v, cert), purseId: new Uint8Array(16).fill(7) };
  await assert.rejects(closeStatement(cert, other, fromHex(device.public_key), now, s.sign),
    (e) => e instanceof CloseError && e.code === "state_mismatch");

  await assert.rejects(closeStatement(cert, stateOf(v, cert), fromHex(V.keys.payee_device.public_key), now, s.sign),
    (e) => e instanceof CloseError && e.code === "wrong_device_key");

  // last_seq = 0 exactly when total_spent = 0 (PROTOCOL.md 5, step 6).
  await assert.rejects(closeStatement(cert, { ...stateOf(v, cert), lastSeq: 0 }, fromHex(device.public_key), now, s.sign),
    (e) => e instanceof DecodeError && e.code === "invalid_field");
  await assert.rejects(closeStatement(cert, { ...stateOf(v, cert), spent: 0 }, fromHex(device.public_key), now, s.sign),
    (e) => e instanceof DecodeError && e.code === "invalid_field");
  assert.equal(s.calls(), 0);
});

test("a close statement signed by another key is refused by the certificate's check", async () => {
  const v = vector("close_valid");
  const cert = decode("certificate", fromHex(v.context.certificate));
  // Sign the right fields with the payee's key, passing the right public key: the check that
  // the server also runs (CloseStatement::verify) refuses it.
  const wrong = signer(V.keys.payee_device.seed);
  const close = await closeStatement(cert, stateOf(v, cert), fromHex(device.public_key), BigInt(v.fields.time), wrong.sign);
  await assert.rejects(verifyClose(close, cert), (e) => e.code === "bad_device_signature");
});
