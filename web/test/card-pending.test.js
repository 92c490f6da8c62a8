// In Chromium, with the app's files from disk and no server (serveApp, page-kit.js): a shop card
// whose online payment got no answer (its send intent is still pending, as pages/pay-card.js
// leaves it) is not paid from the offline purse too. Finished later with "Check and finish", the
// online payment would reach the shop as well, and the shop would be paid twice (docs/WALLET.md:
// "a payment whose outcome is unknown is never paid offline too"). Refused on the card's form
// and by payCard, with nothing signed or stored; once the online payment's outcome is known,
// and for another shop meanwhile, paying offline works.
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

const SENTENCE = "Your online payment to Chai Corner did not get an answer from the server, so it may have been paid. "
  + "Check and finish it on Send when you are back online, before paying this shop again: paying it from your offline purse now could pay the shop twice.";

test("an online card payment with no answer is not paid offline too", async () => {
  const r = await tab.page.evaluate(async () => {
    const shopJs = await import("/js/offline/shop.js");
    const { cardForm } = await import("/js/pages/pay-card.js");
    const { beginIntent, finishIntent } = await import("/js/intents.js");
    const { allFor, get } = await import("/js/offline/db.js");
    const { text: chai } = await shopJs.makeCard(kit.app("chai", 2002), "Chai Corner");
    const { text: dosa } = await shopJs.makeCard(kit.app("dosa", 2003), "Dosa Point");
    const asha = kit.app("asha", 1001);
    const purse = await kit.purse({ payer: "asha", account: 1001, amount: 50000, cap: 20000 });
    await kit.storePurse("asha", purse);
    // What pay-card.js's payOnline keeps before the transfer leaves; its answer was lost.
    const online = await beginIntent("asha", "send", { to: "chai", amount: 25000, memo: null, shop: "Chai Corner", toAccount: 2002 });
    const outcome = (p) => p.then(() => "paid", (e) => `${e.code}: ${e.reason ?? e.message}`);
    const form = await outcome(cardForm(asha, document.createElement("section"), chai));
    const refusedTap = await shopJs.beginCardPayment("asha", chai, 12000);
    const tap = await outcome(shopJs.payCard("asha", refusedTap));
    // The page drops a refused tap (pay-card.js payOffline): nothing was signed for it, and one
    // tap at a time is kept.
    await shopJs.dropCardPayment("asha", refusedTap.id);
    const purseAfter = await get("purses", [...purse.cert.purseId].map((b) => b.toString(16).padStart(2, "0")).join(""));
    const stored = (await allFor("sent", "asha")).length;
    const otherShop = await outcome(shopJs.payCard("asha", await shopJs.beginCardPayment("asha", dosa, 3000)));
    await finishIntent(online); // "Check and finish" learned the outcome
    const afterFinish = await outcome(shopJs.payCard("asha", await shopJs.beginCardPayment("asha", chai, 12000)));
    return { form, tap, spent: purseAfter.spent, stored, otherShop, afterFinish, sentAtEnd: (await allFor("sent", "asha")).length };
  });
  assert.deepEqual(r, {
    form: `sent_online: ${SENTENCE}`,
    tap: `sent_online: ${SENTENCE}`,
    spent: 0,
    stored: 0,
    otherShop: "paid",
    afterFinish: "paid",
    sentAtEnd: 2,
  });
  assert.deepEqual(tab.errors, []);
});
