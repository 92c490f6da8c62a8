// In-page helpers for browser tests that call the app's offline modules directly, with no server:
// a test issuer key cached the way refreshKeys caches the server's, purse certificates it signs
// for a payer's device key, notes signed by that device, a purse stored on the payer's phone as
// loadPurse stores it, and server receipts of online payments signed by that issuer key.
// installPurseKit(page) defines `window.kit` in a page opened on serveApp() (harness.js); the
// tests' page.evaluate bodies then use `kit`. openKitPage() opens such a page in a fresh browser.

import { launchBrowser, serveApp } from "./harness.js";

/** Runs in the page (serialised by page.evaluate): defines window.kit. */
async function definePurseKit() {
  const { deviceKey, sign } = await import("/js/offline/device.js");
  const { signObject, hashOf, toText } = await import("/js/protocol/objects.js");
  const { hex, keyId } = await import("/js/protocol/crypto.js");
  const { cardNoncePrefix } = await import("/js/protocol/accept.js");
  const { put } = await import("/js/offline/db.js");
  const now = () => BigInt(Math.floor(Date.now() / 1000));
  const issuer = await deviceKey("kit-issuer");
  const issuerKeyId = await keyId(issuer.publicKey);
  const day = 86400;
  await put("issuers", { keyId: hex(issuerKeyId), publicKey: issuer.publicKey, notBefore: Number(now()) - day, notAfter: Number(now()) + 365 * day });
  await put("issuers", { keyId: "revocations", purses: [], devices: [] });

  window.kit = {
    /**
     * A purse of `amount` (minor units) for account `account`, certified for `payer`'s device key on this phone, valid from
     * `validFrom` to `validUntil` (Unix seconds, BigInt; by default from an hour ago for 30 days), with purse id `purseId`
     * (by default a new one); `unknownIssuer` (a name) certifies it with an issuer key of that name this phone never cached.
     */
    async purse({
      payer, account, amount, cap = amount, validFrom = now() - 3600n, validUntil = now() + 30n * BigInt(day), purseId, unknownIssuer,
    }) {
      const payerKey = await deviceKey(payer);
      const signer = unknownIssuer ? await deviceKey(`kit-unknown-issuer/${unknownIssuer}`) : issuer;
      const cert = await signObject("certificate", {
        purseId: purseId ?? crypto.getRandomValues(new Uint8Array(16)), issuerKeyId: unknownIssuer ? await keyId(signer.publicKey) : issuerKeyId,
        account: BigInt(account), deviceKey: payerKey.publicKey, currency: "INR", amount, perPaymentCap: cap, validFrom, validUntil,
      }, (b) => sign(signer, b));
      return { cert, payerKey, certHash: await hashOf(cert) };
    },
    /**
     * The text of note `seq` of `purse` ({prevHash, cumulative} default to a first note) paying `amount` to `payee` with `nonce`,
     * signed at `time` (Unix seconds, BigInt; the payer's clock, by default this phone's).
     */
    async note(purse, { seq = 1, prevHash = purse.certHash, cumulative, amount, payee, nonce, time = now() }) {
      const note = await signObject("note", {
        certificate: purse.cert, seq, prevHash, cumulative: cumulative ?? amount, amount, payee: BigInt(payee), nonce, time,
      }, (b) => sign(purse.payerKey, b));
      return toText(note);
    },
    /** The text of the server's receipt (signed by the test issuer) of online payment `entryId` to `payee` at shop card `card` (decoded), made `ageS` seconds ago. */
    async receipt({ entryId, payer, payee, amount, card, payerHandle = null, ageS = 0 }) {
      const receipt = await signObject("receipt", {
        issuerKeyId, entryId: BigInt(entryId), payer: BigInt(payer), payee: BigInt(payee), currency: "INR", amount, time: now() - BigInt(ageS),
        card: await cardNoncePrefix(card), payerHandle,
      }, (b) => sign(issuer, b));
      return toText(receipt);
    },
    /** Stores `purse` on this phone for `handle`, as loadPurse does after a load. */
    async storePurse(handle, purse) {
      const c = purse.cert;
      await put("purses", {
        purseId: hex(c.purseId), handle, certText: toText(c), account: c.account.toString(), amount: c.amount, cap: c.perPaymentCap,
        spent: 0, seq: 0, lastHash: purse.certHash, validFrom: Number(c.validFrom), validUntil: Number(c.validUntil), status: "active",
      });
    },
    /** The app object the offline modules read: the session's handle, my account, the currency. */
    app: (handle, account) => ({ session: { handle }, me: { account }, config: { currency: "INR", decimals: 2, offline: true }, online: false, money: (m) => `₹${(m / 100).toFixed(2)}` }),
  };
}

/** Defines `window.kit` in `page` (opened on serveApp()'s url). */
export async function installPurseKit(page) {
  await page.evaluate(definePurseKit);
}

/**
 * A Chromium page on the app's files from disk (serveApp, no server) with `window.kit` defined;
 * `errors` collects the page's uncaught errors. `close()` ends the browser and the file server.
 */
export async function openKitPage() {
  const app = await serveApp();
  const browser = await launchBrowser();
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${app.url}/vendor/LICENSES.txt`);
  await installPurseKit(page);
  return {
    page,
    errors,
    async close() {
      await browser.close();
      await app.stop();
    },
  };
}

