// The web wallet's encoder, decoder, verifier and acceptance check against the protocol crate's
// shared test vectors (testdata/protocol-vectors.json): same bytes, same text, same hashes, same
// decode errors, same reasons (including the torsion and small-order signature cases); and the
// device-key vectors: same device-key verdicts, same strict and cofactored verification results.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createHash, createPrivateKey, sign as nodeSign } from "node:crypto";
import { decode, fromText, toText, hashOf, signObject, verifyRequestSignature } from "../public/js/protocol/objects.js";
import {
  acceptNote, acceptCardNote, verifyIssuer, checkWindow, verifyClose, verifyCard, checkReceipt, cardNoncePrefix, RejectError,
} from "../public/js/protocol/accept.js";
import { hex, fromHex, verifyStrict, checkDeviceKey } from "../public/js/protocol/crypto.js";
import { verifyAsync as cofactoredVerify, Point } from "../public/vendor/noble-ed25519.js";
import { KINDS } from "../public/js/protocol/wire.js";

const V = JSON.parse(readFileSync(new URL("../../testdata/protocol-vectors.json", import.meta.url), "utf8"));
const KIND = {
  purse_certificate: "certificate", payment_request: "request", payment_note: "note", purse_close: "close", shop_card: "card",
  receipt: "receipt",
};

const seeds = new Map(Object.values(V.keys).filter((k) => k.seed).map((k) => [k.public_key, k.seed]));
function signerFor(publicKeyHex) {
  const seed = seeds.get(publicKeyHex);
  if (!seed) return null;
  const priv = createPrivateKey({ key: Buffer.from("302e020100300506032b657004220420" + seed, "hex"), format: "der", type: "pkcs8" });
  return async (bytes) => new Uint8Array(nodeSign(null, bytes, priv));
}

function issuerKeys(ctx) {
  return (ctx.issuer_keys ?? []).map((k) => ({ keyId: fromHex(k.key_id), publicKey: fromHex(k.public_key), notBefore: BigInt(k.not_before), notAfter: BigInt(k.not_after) }));
}

async function acceptContext(ctx) {
  const notes = new Map();
  let purseId = null;
  for (const enc of ctx.accepted_before ?? []) {
    const n = decode("note", fromHex(enc));
    purseId = n.certificate.purseId;
    notes.set(n.seq, { hash: await hashOf(n), prevHash: n.prevHash, cumulative: n.cumulative, amount: n.amount });
  }
  return {
    tally: purseId ? { purseId, notes } : null,
    ctx: {
      me: BigInt(ctx.me), now: BigInt(ctx.now), issuerKeys: issuerKeys(ctx),
      revocations: { purses: new Set(ctx.revoked_purses ?? []), devices: new Set(ctx.revoked_devices ?? []) },
      openRequests: (ctx.open_requests ?? []).map((r) => ({ nonce: fromHex(r.nonce), amount: r.amount, expiresAt: BigInt(r.expires_at), paid: r.paid })),
    },
  };
}

/** Runs the check a receiving device does for this kind; resolves to a reason code or null. */
async function check(kind, obj, ctx) {
  try {
    if (kind === "certificate") {
      await verifyIssuer(obj, issuerKeys(ctx));
      checkWindow(obj, BigInt(ctx.now));
    } else if (kind === "request") {
      if (!(await verifyRequestSignature(obj))) return "bad_request_signature";
      if (BigInt(ctx.now) > obj.expiresAt) return "request_expired";
    } else if (kind === "note" && ctx.card) {
      const { tally, ctx: c } = await acceptContext(ctx);
      const card = decode("card", fromHex(ctx.card));
      await acceptCardNote(obj, tally, { ...c, card, seenNonces: new Set(ctx.seen_nonces), window: BigInt(ctx.window) });
    } else if (kind === "note") {
      const { tally, ctx: c } = await acceptContext(ctx);
      await acceptNote(obj, tally, c);
    } else if (kind === "card") {
      await verifyCard(obj);
    } else if (kind === "receipt") {
      await checkReceipt(obj, {
        me: BigInt(ctx.me), currency: ctx.currency, cardPrefix: await cardNoncePrefix(decode("card", fromHex(ctx.card))), issuerKeys: issuerKeys(ctx), seenEntries: new Set(ctx.seen_entries.map(BigInt)),
        now: BigInt(ctx.now), maxAge: BigInt(ctx.max_age),
      });
    } else {
      await verifyClose(obj, decode("certificate", fromHex(ctx.certificate)));
    }
    return null;
  } catch (e) {
    if (e instanceof RejectError) return e.code;
    throw e;
  }
}

function fieldsOf(kind, o) {
  const c = (x) => ({
    account: Number(x.account), amount: x.amount, currency: x.currency, device_key: hex(x.deviceKey), issuer_key_id: hex(x.issuerKeyId),
    per_payment_cap: x.perPaymentCap, purse_id: hex(x.purseId), valid_from: Number(x.validFrom), valid_until: Number(x.validUntil),
  });
  if (kind === "certificate") return c(o);
  if (kind === "request") return { amount: o.amount, currency: o.currency, expires_at: Number(o.expiresAt), handle: o.handle, nonce: hex(o.nonce), payee: Number(o.payee), payee_device_key: hex(o.payeeDeviceKey) };
  if (kind === "note") return { amount: o.amount, cumulative: o.cumulative, nonce: hex(o.nonce), payee: Number(o.payee), prev_hash: hex(o.prevHash), seq: o.seq, time: Number(o.time) };
  if (kind === "card") return { currency: o.currency, handle: o.handle, issued_at: Number(o.issuedAt), name: o.name, payee: Number(o.payee), shop_device_key: hex(o.shopDeviceKey) };
  if (kind === "receipt") {
    return {
      amount: o.amount, currency: o.currency, entry_id: Number(o.entryId), issuer_key_id: hex(o.issuerKeyId), payee: Number(o.payee),
      payer: Number(o.payer), payer_handle: o.payerHandle, time: Number(o.time), card: o.card ? hex(o.card) : null,
    };
  }
  return { last_hash: hex(o.lastHash), last_seq: o.lastSeq, purse_id: hex(o.purseId), time: Number(o.time), total_spent: o.totalSpent };
}

function strip(f) {
  const { hash, certificate, nonce_prefix, ...rest } = f;
  return rest;
}

test("vector file is the version this code reads, with domain strings and tags as in wire.js", () => {
  assert.equal(V.version, 1);
  for (const d of V.domains) {
    const k = KINDS[KIND[d.kind]];
    assert.equal(hex(new TextEncoder().encode(k.domain)), d.domain_hex, d.kind);
    assert.equal(k.tag, d.tag);
    assert.equal(k.version, d.version, d.kind);
    assert.equal(k.prefix, d.text_prefix);
  }
  assert.ok(V.vectors.length >= 40);
});

for (const v of V.vectors) {
  test(`vector ${v.name}: ${v.description}`, async () => {
    const kind = KIND[v.kind];
    const bytes = fromHex(v.encoded);
    assert.equal(hex(new Uint8Array(createHash("sha256").update(bytes).digest())), v.sha256, "sha256 of the encoding");
    if (v.decode_error) {
      assert.throws(() => decode(kind, bytes), (e) => e.code === v.decode_error);
      assert.throws(() => fromText(kind, v.text), (e) => e.code === v.decode_error);
      assert.equal(v.reason, "malformed");
      return;
    }
    const obj = decode(kind, bytes);
    assert.deepEqual(fromText(kind, v.text).encoded, obj.encoded);
    assert.equal(toText(obj), v.text);
    assert.equal(hex(obj.signedBytes), v.signed_bytes);
    assert.equal(hex(obj.signature), v.signature);
    assert.equal(hex(await hashOf(obj)), v.fields.hash);
    assert.deepEqual(fieldsOf(kind, obj), strip(v.fields));
    if (kind === "note") {
      assert.deepEqual(fieldsOf("certificate", obj.certificate), strip(v.fields.certificate));
      assert.equal(hex(await hashOf(obj.certificate)), v.fields.certificate.hash);
    }
    if (kind === "card") assert.equal(hex(await cardNoncePrefix(obj)), v.fields.nonce_prefix);
    // Encoder: signing the same fields with the same (deterministic Ed25519) key gives the same bytes.
    const signer = signerFor(v.signer_public_key);
    if (signer && v.valid) {
      const again = await signObject(kind, obj, signer);
      assert.equal(hex(again.encoded), v.encoded);
    }
    assert.equal(await check(kind, obj, v.context ?? {}), v.reason);
    assert.equal(v.valid, v.reason === null);
  });
}

test("device-key vectors: the file has the cases docs/PROTOCOL.md section 12 promises", () => {
  const names = V.device_keys.map((v) => v.name);
  for (const n of ["device_key_valid", "device_key_mixed_order_strict_accepts", "device_key_mixed_order_cofactored_only", "device_key_small_order_identity", "device_key_non_canonical_y", "device_key_not_a_point"]) {
    assert.ok(names.includes(n), n);
  }
});

for (const v of V.device_keys) {
  test(`device key ${v.name}: ${v.description}`, async () => {
    const pk = fromHex(v.public_key);
    assert.equal(checkDeviceKey(pk), v.error);
    if (v.signature === undefined) return;
    const msg = fromHex(v.message);
    const sig = fromHex(v.signature);
    assert.equal(await verifyStrict(pk, msg, sig), v.verify_strict, "verifyStrict");
    // @noble/ed25519's default (ZIP-215) verification is the cofactored equation.
    assert.equal(await cofactoredVerify(sig, msg, pk), v.cofactored, "cofactored (noble default)");
    assert.equal(Point.fromBytes(sig.subarray(0, 32), true).isTorsionFree(), v.torsion_free_r, "R torsion-free");
  });
}
