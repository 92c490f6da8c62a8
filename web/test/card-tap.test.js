// In Chromium, with the app's files from disk and no server (serveApp, page-kit.js): paying a shop
// card from the offline purse is one note per tap. A double tap on Confirm makes one note and
// shows it (the button is off before anything is awaited); a tap begun while another is not
// finished (a second tab) is refused in the transaction that would keep it, and cancelling a tap
// drops only that tap.
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

test("a double tap on the offline card Confirm makes one note and shows it", async () => {
  const r = await tab.page.evaluate(async () => {
    const shopJs = await import("/js/offline/shop.js");
    const { cardForm } = await import("/js/pages/pay-card.js");
    const { allFor } = await import("/js/offline/db.js");
    const { setPin } = await import("/js/offline/pin.js");
    const { text: card } = await shopJs.makeCard(kit.app("chai", 2002), "Chai Corner");
    const purse = await kit.purse({ payer: "tapa", account: 1021, amount: 50000, cap: 20000 });
    await kit.storePurse("tapa", purse);
    await setPin("tapa", "246810");
    const app = { ...kit.app("tapa", 1021), results: [], showResult(x) { app.results.push(x); }, handleError() {} };
    const section = document.createElement("section");
    const node = await cardForm(app, section, card);
    section.append(node);
    document.body.replaceChildren(section);
    node.querySelector('input[name="amount"]').value = "12.00";
    node.querySelector('input[name="pin"]').value = "246810";
    const yes = [...node.querySelectorAll("button")].find((b) => b.textContent === "Confirm");
    yes.click();
    yes.click();
    const end = Date.now() + 20_000;
    while (!section.querySelector('[data-testid="card-paid"]') && !app.results.length && Date.now() < end) await new Promise((res) => setTimeout(res, 25));
    // A second tap, had it gone through, checks its PIN and signs in the same time as the first.
    await new Promise((res) => setTimeout(res, 3000));
    return {
      shown: section.querySelector('[data-testid="card-paid"]')?.textContent ?? null,
      results: app.results.map((x) => `${x.summary} ${x.reason}`),
      notes: (await allFor("sent", "tapa")).length,
      pending: await shopJs.unfinishedCardPayment("tapa"),
    };
  });
  assert.deepEqual(r, {
    shown: "You paid ₹12.00 to Chai Corner from your offline purse. Let the shop scan this code.",
    results: [],
    notes: 1,
    pending: null,
  });
});

test("a tap is refused while another tap is not finished, and cancelling drops only its own tap", async () => {
  const r = await tab.page.evaluate(async () => {
    const shopJs = await import("/js/offline/shop.js");
    const { text: card } = await shopJs.makeCard(kit.app("dosa", 2003), "Dosa Point");
    const first = await shopJs.beginCardPayment("tina", card, 1000);
    const second = await shopJs.beginCardPayment("tina", card, 2000).then(() => "begun", (e) => `${e.code}: ${e.reason}`);
    await shopJs.dropCardPayment("tina", "another-tap");
    const kept = (await shopJs.unfinishedCardPayment("tina"))?.id === first.id;
    await shopJs.dropCardPayment("tina", first.id);
    const dropped = await shopJs.unfinishedCardPayment("tina");
    const third = await shopJs.beginCardPayment("tina", card, 3000).then((t) => t.amount, (e) => e.code);
    return { second, kept, dropped, third };
  });
  assert.deepEqual(r, {
    second: "tap_pending: Another payment from your offline purse is not finished yet. Open Pay again to finish or cancel it first.",
    kept: true,
    dropped: null,
    third: 3000,
  });
});

test("no page errors", () => {
  assert.deepEqual(tab.errors, []);
});
