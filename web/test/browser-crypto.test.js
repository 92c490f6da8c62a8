// In Chromium: the device key is a non-extractable WebCrypto Ed25519 key kept in IndexedDB, and
// the app's protocol code signs and strictly verifies with it. The files come from the real
// `offpay serve`; the app itself is not started (the page is a plain text file of the app).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServerAndBrowser, stopServerAndBrowser } from "./harness.js";

let srv;
let browser;
before(async () => { ({ srv, browser } = await startServerAndBrowser()); });
after(() => stopServerAndBrowser({ srv, browser }));

test("device key is non-extractable WebCrypto Ed25519 in IndexedDB and signs verifiable objects", async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${srv.url}/vendor/LICENSES.txt`);
  const r = await page.evaluate(async () => {
    const device = await import("/js/offline/device.js");
    const objects = await import("/js/protocol/objects.js");
    const { verifyStrict } = await import("/js/protocol/crypto.js");
    const key = await device.deviceKey("alice");
    const again = await device.deviceKey("alice");
    const req = await objects.signObject("request", {
      payee: 7n, payeeDeviceKey: key.publicKey, currency: "INR", amount: 1250,
      nonce: crypto.getRandomValues(new Uint8Array(16)), expiresAt: 1767225600n, handle: "alice",
    }, (b) => device.sign(key, b));
    const text = objects.toText(req);
    const back = objects.fromText("request", text);
    const good = await verifyStrict(key.publicKey, back.signedBytes, back.signature);
    const tampered = back.signedBytes.slice();
    tampered[tampered.length - 1] ^= 1;
    const bad = await verifyStrict(key.publicKey, tampered, back.signature);
    let exported = "refused";
    try { await crypto.subtle.exportKey("pkcs8", key.privateKey); exported = "exported"; } catch { /* expected */ }
    return {
      alg: key.alg, extractable: key.privateKey?.extractable, same: key.publicKey.join() === again.publicKey.join(),
      good, bad, exported, prefix: text.slice(0, 5), amount: back.amount, handle: back.handle,
    };
  });
  assert.deepEqual(r, {
    alg: "webcrypto", extractable: false, same: true, good: true, bad: false, exported: "refused",
    prefix: "OPR1:", amount: 1250, handle: "alice",
  });
  assert.deepEqual(errors, []);
});
