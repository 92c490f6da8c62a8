// In Chromium, with the app's files from disk and no server (serveApp, page-kit.js; `fetch` to
// /v1/ answered by the test): what the offline records keep. Paying a signed request shows the
// payee's handle and account on the confirm step (docs/PROTOCOL.md section 8) and keeps the account
// in the `sent` record; an online payment already taken from its receipt is recorded once
// (markPaymentReceived says whether it was new, so Shop mode announces it once, also after a
// reload); and a sync keeps what was written on a note record while its upload was on the way
// (the payer's username, the entry that paid it).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { openKitPage } from "./page-kit.js";

let tab;
before(async () => {
  tab = await openKitPage();
});
after(async () => {
  await tab?.close();
});

test("paying a signed request shows the payee's handle and account, and keeps the account", async () => {
  const r = await tab.page.evaluate(async () => {
    const wallet = await import("/js/offline/wallet.js");
    const { allFor } = await import("/js/offline/db.js");
    const { setPin } = await import("/js/offline/pin.js");
    const payPage = await import("/js/pages/pay.js");
    const until = async (fn) => {
      for (let i = 0; i < 600 && !fn(); i++) await new Promise((res) => setTimeout(res, 25));
      return fn();
    };
    const { text } = await wallet.createRequest(kit.app("bob", 3003), 4000);
    const purse = await kit.purse({ payer: "pia", account: 1031, amount: 50000, cap: 20000 });
    await kit.storePurse("pia", purse);
    await setPin("pia", "246810");
    const app = { ...kit.app("pia", 1031), results: [], showResult(x) { app.results.push(x); }, handleError() {} };
    const section = await payPage.render(app);
    document.body.replaceChildren(section);
    section.querySelector("textarea").value = text;
    section.querySelector("form").requestSubmit();
    const group = await until(() => section.querySelector('[aria-label="Confirm payment"]'));
    const asked = group?.querySelector("p")?.textContent ?? null;
    group.querySelector('input[name="pin"]').value = "246810";
    group.querySelector("form").requestSubmit();
    await until(() => section.querySelector("h1")?.textContent === "Payment note ready" || app.results.length);
    const [record] = await allFor("sent", "pia");
    return { asked, payee: record?.payee, payeeAccount: record?.payeeAccount, results: app.results };
  });
  assert.deepEqual(r, {
    asked: "Pay ₹40.00 to bob (account 3003) from your offline purse?",
    payee: "bob",
    payeeAccount: "3003",
    results: [],
  });
});

test("an online payment taken from its receipt is recorded once: its live event later is not new", async () => {
  const r = await tab.page.evaluate(async () => {
    const shopJs = await import("/js/offline/shop.js");
    const app = kit.app("tea", 2041);
    const { card } = await shopJs.makeCard(app, "Tea Stall");
    const receipt = await kit.receipt({ entryId: 901, payer: 1041, payee: 2041, amount: 8000, card, payerHandle: "ravi" });
    const taken = await shopJs.acceptReceipt(app, receipt);
    return {
      taken: taken.entryId.toString(),
      eventForReceipt: await shopJs.markPaymentReceived("tea", 901),
      newPayment: await shopJs.markPaymentReceived("tea", 902),
      again: await shopJs.markPaymentReceived("tea", 902),
    };
  });
  assert.deepEqual(r, { taken: "901", eventForReceipt: false, newPayment: true, again: false });
});

test("a receipt refused for its age or another counter says its money is the shop's already", async () => {
  const r = await tab.page.evaluate(async () => {
    const shopJs = await import("/js/offline/shop.js");
    const app = kit.app("chaat", 2071);
    const { card } = await shopJs.makeCard(app, "Chaat Corner");
    const other = (await shopJs.makeCard(kit.app("chaat2", 2071), "Chaat Corner 2")).card;
    const said = async (text) => shopJs.acceptReceipt(app, text).then(() => "taken", (e) => `${e.code}: ${e.message}`);
    return {
      old: await said(await kit.receipt({ entryId: 911, payer: 1071, payee: 2071, amount: 5000, card, ageS: 3600 })),
      elsewhere: await said(await kit.receipt({ entryId: 912, payer: 1071, payee: 2071, amount: 5000, card: other })),
    };
  });
  assert.match(r.old, /^stale_receipt: .*already in the shop's account.*do not ask for a second payment/);
  assert.match(r.elsewhere, /^wrong_card: This receipt is for a payment made at another counter.*already in the shop's account/);
});

test("a sync keeps what was written on a note record while its upload was on the way", async () => {
  const r = await tab.page.evaluate(async () => {
    const { put, get } = await import("/js/offline/db.js");
    const { syncNow, markSettled } = await import("/js/offline/sync.js");
    const { keepPairings } = await import("/js/offline/history.js");
    const purse = await kit.purse({ payer: "olga", account: 1051, amount: 50000 });
    const paid = await kit.note(purse, { amount: 1500, payee: 2051, nonce: new Uint8Array(16).fill(1) });
    const got = await kit.note(purse, { seq: 2, amount: 2500, payee: 1061, nonce: new Uint8Array(16).fill(2) });
    const base = { handle: "sami", purseId: "p", settled: false, createdMs: Date.now(), acceptedMs: Date.now() };
    await put("sent", { ...base, noteHash: "aa", seq: 1, amount: 1500, payee: "nina", text: paid });
    await put("received", { ...base, noteHash: "bb", seq: 2, amount: 2500, payer: "1051", text: got });
    const realFetch = window.fetch;
    window.fetch = async (url, opts) => {
      if (!String(url).endsWith("/v1/notes")) return new Response("{}", { status: 503 });
      // Meanwhile: the live event names the payer, and History pairs the paid note with its entry.
      await markSettled({ session: { handle: "sami" } }, "bb", "olga");
      await keepPairings([{ role: "payer", noteHash: "aa", entryId: 78 }]);
      return new Response(JSON.stringify({ results: [{ note: "aa", status: "settled" }, { note: "bb", status: "duplicate" }] }), { status: 200 });
    };
    try {
      await syncNow({ session: { handle: "sami", token: "t" }, refreshMe: async () => null });
    } finally {
      window.fetch = realFetch;
    }
    const [sent, received] = await Promise.all([get("sent", "aa"), get("received", "bb")]);
    return { sent: [sent.settled, sent.entryId], received: [received.settled, received.payerHandle] };
  });
  assert.deepEqual(r, { sent: [true, 78], received: [true, "olga"] });
});

test("no page errors", () => {
  assert.deepEqual(tab.errors, []);
});
