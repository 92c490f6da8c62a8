// End-to-end in Chromium against the real `offpay serve`: the offline screens' edges on one phone
// with an offline purse. "Copy text" puts the payment request on the clipboard; paying one's own
// request (pasted from that clipboard, with the phone offline) is refused on the Pay form and
// signs nothing; a note the server refuses (made out to an account that does not exist) is
// listed on Sync status with the reason in words and its code in small print; a request paid
// once is not paid again, and a request reusing its nonce with another amount is refused.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, createPrivateKey, createPublicKey, sign as nodeSign } from "node:crypto";
import {
  startServerAndBrowser, stopServerAndBrowser, enterPin, goOfflineToPay, loadPurse, payDirectly, phone, registerWithDeposit, textOf, waitText,
} from "../harness.js";
import { signObject, toText } from "../../public/js/protocol/objects.js";
import { REUSED_REQUEST } from "../../public/js/offline/paid-once.js";
import { PURSE_FULL } from "../../public/js/offline/wallet.js";

const OWN_REQUEST = "This is your own payment request. Ask the person paying you to scan it.";

let srv;
let browser;
let c;
before(async () => {
  ({ srv, browser } = await startServerAndBrowser());
  c = await phone(browser);
  await c.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: srv.url });
  await registerWithDeposit(c.page, srv, "carol", "carol-secret-1", "300.00");
  await loadPurse(c.page, "200.00");
});
after(async () => {
  await c?.context.close();
  await stopServerAndBrowser({ srv, browser });
});

let requestText;

test("Copy text puts the exact payment request on the clipboard", async () => {
  await c.page.getByRole("link", { name: "Receive", exact: true }).click();
  // Above the per-payment cap (200.00 by default): refused before any request is made.
  await c.page.getByLabel("Amount").fill("250.00");
  await c.page.getByRole("button", { name: "Request payment" }).click();
  await c.page.waitForFunction(() => document.querySelector('input[name="amount"]')?.getAttribute("aria-invalid") === "true");
  assert.equal(await c.page.getByLabel("Amount").evaluate((el) => document.getElementById(el.getAttribute("aria-describedby")).textContent),
    "One offline payment can be at most ₹200.00. Ask for ₹200.00 or less, or ask to be paid online with Send.");
  assert.equal(await c.page.getByRole("heading", { name: "Payment request" }).count(), 0);
  await c.page.getByLabel("Amount").fill("25.00");
  await c.page.getByRole("button", { name: "Request payment" }).click();
  await c.page.getByRole("heading", { name: "Payment request" }).waitFor();
  requestText = await c.page.getByRole("textbox", { name: "Payment request" }).inputValue();
  assert.match(requestText, /^OPR1:[0-9A-Z $%*+\-./:]+$/);
  // Something else on the clipboard first, so the check below cannot pass by chance.
  await c.page.evaluate(() => navigator.clipboard.writeText("not the request"));
  await c.page.getByRole("button", { name: "Copy text" }).click();
  await c.page.getByRole("button", { name: "Copied" }).waitFor();
  assert.equal(await c.page.evaluate(() => navigator.clipboard.readText()), requestText);
});

test("paying one's own payment request is refused before anything is signed", async () => {
  assert.ok(requestText, "needs the request of the test above");
  await goOfflineToPay(c, "₹200.00");
  const pasted = await c.page.evaluate(() => navigator.clipboard.readText());
  assert.equal(pasted, requestText);
  await c.page.getByRole("textbox", { name: "Payment request" }).fill(pasted);
  await c.page.getByRole("button", { name: "Pay", exact: true }).click();
  await c.page.getByRole("alert").filter({ hasText: OWN_REQUEST }).waitFor();
  // Still the Pay form: no confirmation, no note.
  assert.equal(await c.page.getByRole("group", { name: "Confirm payment" }).count(), 0);
  assert.equal(await c.page.getByRole("heading", { name: "Payment note ready" }).count(), 0);
  assert.equal(await c.page.getByRole("textbox", { name: "Payment request" }).inputValue(), requestText);

  // The wallet itself refuses too, even when the caller does not know the account (the purse
  // certificate names it): pay() throws before signing and nothing is stored.
  const direct = await payDirectly(c.page, "carol", requestText);
  assert.equal(direct, `own_request: ${OWN_REQUEST}`);

  await c.page.getByRole("link", { name: "offpay home" }).click();
  await c.page.getByRole("heading", { name: "Offline" }).waitFor();
  await waitText(c.page, '[data-testid="offline-balance"]', "₹200.00");
  await c.page.goto(`${srv.url}/#/sync`);
  await c.page.getByRole("heading", { name: "Sync status" }).waitFor();
  assert.equal(await textOf(c.page, "sync-summary"), "Everything is settled.");
  await waitText(c.page, "main", "0 offline payment(s) settled on this device.");
  await c.context.setOffline(false);
  await waitText(c.page, "#net-status", "Online");
});

/** A request signed by a device the server never saw, made out to an account it does not have. */
async function requestToNobody(amount, nonceLabel = "nobody-nonce") {
  const seed = createHash("sha256").update("offpay-web-test/nobody-device").digest();
  const priv = createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]), format: "der", type: "pkcs8" });
  const publicKey = new Uint8Array(Buffer.from(createPublicKey(priv).export({ format: "jwk" }).x, "base64url"));
  const req = await signObject("request", {
    payee: 987654321n, payeeDeviceKey: publicKey, currency: "INR", amount,
    nonce: new Uint8Array(createHash("sha256").update(nonceLabel).digest().subarray(0, 16)),
    expiresAt: BigInt(Math.floor(Date.now() / 1000) + 600), handle: "nobody",
  }, async (bytes) => new Uint8Array(nodeSign(null, bytes, priv)));
  return toText(req);
}

test("a note the server refuses is listed with the reason in words and the code in small print", async () => {
  await c.context.setOffline(false);
  await c.page.goto(`${srv.url}/#/home`);
  await c.page.getByRole("heading", { name: "Home", exact: true }).waitFor();
  await c.page.getByRole("link", { name: "Pay", exact: true }).click();
  await c.page.getByRole("heading", { name: "Pay", exact: true }).waitFor();
  await c.page.getByRole("textbox", { name: "Payment request" }).fill(await requestToNobody(1500));
  await c.page.getByRole("button", { name: "Pay", exact: true }).click();
  assert.match(await c.page.getByRole("group", { name: "Confirm payment" }).textContent(), /Pay ₹15\.00 to nobody/);
  await enterPin(c.page);
  await c.page.getByRole("button", { name: "Confirm" }).click();
  await c.page.getByRole("heading", { name: "Payment note ready" }).waitFor();

  await c.page.goto(`${srv.url}/#/sync`);
  await c.page.getByRole("heading", { name: "Sync status" }).waitFor();
  assert.equal(await textOf(c.page, "sync-summary"), "1 offline payment(s) waiting to settle.");
  await c.page.getByRole("button", { name: "Sync now" }).click();
  const list = c.page.getByRole("list", { name: "Waiting to settle" });
  await list.getByText("Refused by the server:").waitFor();
  assert.equal(await list.locator(".refused").textContent(),
    "Refused by the server: The account this payment is made out to does not exist on this server.");
  assert.equal(await list.locator("small.code").textContent(), "Code: unknown_payee");
  assert.match(await list.textContent(), /Paid to nobody/);

  assert.deepEqual(c.errors, []);
});

/** Pastes `requestText` on the Pay form: "Payment failed" with `reason`, before any confirmation. */
async function refusedOnPayForm(requestText, reason) {
  await c.page.goto(`${srv.url}/#/pay`);
  await c.page.getByRole("heading", { name: "Pay", exact: true }).waitFor();
  await c.page.getByRole("textbox", { name: "Payment request" }).fill(requestText);
  await c.page.getByRole("button", { name: "Pay", exact: true }).click();
  await c.page.getByRole("heading", { name: "Payment failed" }).waitFor();
  assert.equal(await textOf(c.page, "failure-reason"), `Reason: ${reason}`);
  assert.equal(await textOf(c.page, "result-summary"), "Nothing was paid.");
}

test("a request paid once is not paid again; its nonce with another amount is refused", async () => {
  // After the test above: online, 15.00 of the 200.00 purse paid.
  await c.page.goto(`${srv.url}/#/home`);
  await waitText(c.page, '[data-testid="offline-balance"]', "₹185.00");
  const first = await requestToNobody(1000, "once-nonce");
  assert.equal(await payDirectly(c.page, "carol", first), "paid");
  assert.equal(await payDirectly(c.page, "carol", first), "repeated");
  const reused = await requestToNobody(2000, "once-nonce");
  assert.equal(await payDirectly(c.page, "carol", reused), `request_reused: ${REUSED_REQUEST}`);

  // Through the Pay form: refused before any confirmation, with the reason.
  await refusedOnPayForm(reused, REUSED_REQUEST);

  // One payment of 10.00, whatever was tried after it.
  await c.page.goto(`${srv.url}/#/home`);
  await waitText(c.page, '[data-testid="offline-balance"]', "₹175.00");
  assert.deepEqual(c.errors, []);
});

test("a purse that made its last payment signs no more and says what to do", async () => {
  // After the tests above: 25.00 of the 200.00 purse paid. Its record as 997 more payments
  // would leave it (the chain is not re-signed here), so the next payment is its 1,000th.
  await c.page.evaluate(async (handle) => {
    const db = await import("/js/offline/db.js");
    const [purse] = await db.allFor("purses", handle);
    await db.put("purses", { ...purse, seq: 999 });
  }, "carol");
  assert.equal(await payDirectly(c.page, "carol", await requestToNobody(500, "last-nonce")), "paid");
  const more = await requestToNobody(500, "one-more-nonce");
  assert.equal(await payDirectly(c.page, "carol", more), `purse_full: ${PURSE_FULL}`);
  assert.match(PURSE_FULL, /made its 1,000 payments.*Close it and load a new one while online\.$/);

  // Through the Pay form: refused before any confirmation, with the same sentence.
  await refusedOnPayForm(more, PURSE_FULL);
  const purse = await c.page.evaluate(async (handle) => (await (await import("/js/offline/db.js")).allFor("purses", handle))[0], "carol");
  assert.equal(purse.seq, 1000);
  await c.page.goto(`${srv.url}/#/home`);
  await waitText(c.page, '[data-testid="offline-balance"]', "₹170.00");
  // The offline home says it before the next payment is tried.
  await c.page.goto(`${srv.url}/#/offline`);
  await c.page.getByRole("heading", { name: "Offline" }).waitFor();
  assert.equal(await textOf(c.page, "purse-full"), PURSE_FULL);
  assert.deepEqual(c.errors, []);
});
