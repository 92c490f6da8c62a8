// In Chromium, with the app's files from disk and no server (serveApp, page-kit.js): a payee phone
// given two conflicting notes of one purse at the same moment (two tabs, or two quick scans in
// Shop mode, which accepts as soon as the camera reads a code) accepts one and refuses the other
// with the code a second acceptance one after the other gets. The purse tally (docs/PROTOCOL.md
// section 9, rows 16 and 17) is checked again in the transaction that stores the note; checked
// only before it, both notes were stored and the second would be refused at settlement, the
// payee out of the money. Forked notes (one seq, two notes) within the purse's amount are
// `inconsistent_with_earlier_note`; a forked clone spending more than the purse holds is
// `over_purse_amount`. Both for notes answering requests and for notes paying a shop card.
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

/**
 * In the page: a new shop `shop` (account `account`) and a new purse of `purseAmount` forked into
 * two first notes of 30.00 for the shop (answering two requests, or paying its card), accepted
 * both at once (`together`) or one after the other. Returns each acceptance's outcome
 * ("accepted" or the refusal's code) and how many notes the shop stored.
 */
function forkedNotes(options) {
  return tab.page.evaluate(async ({ shop, account, purseAmount, card, together }) => {
    const wallet = await import("/js/offline/wallet.js");
    const shopJs = await import("/js/offline/shop.js");
    const { cardNonce } = await import("/js/protocol/accept.js");
    const { allFor } = await import("/js/offline/db.js");
    const me = kit.app(shop, account);
    const amount = 3000;
    let nonces;
    if (card) {
      const { card: mine } = await shopJs.makeCard(me, "Chai Corner");
      nonces = await Promise.all([1, 2].map(() => cardNonce(mine, crypto.getRandomValues(new Uint8Array(12)))));
    } else {
      nonces = await Promise.all([1, 2].map(async () => (await wallet.createRequest(me, amount)).request.nonce));
    }
    const purse = await kit.purse({ payer: `payer-of-${shop}`, account: 1001, amount: purseAmount });
    const texts = await Promise.all(nonces.map((nonce) => kit.note(purse, { amount, payee: account, nonce })));
    const accept = (text) => wallet.acceptText(me, text).then(() => "accepted", (e) => e.code ?? String(e));
    const outcomes = together ? await Promise.all(texts.map(accept)) : [await accept(texts[0]), await accept(texts[1])];
    return { outcomes, stored: (await allFor("received", shop)).length };
  }, options);
}

const cases = [
  { name: "two request notes with one seq", card: false, purseAmount: 10000, code: "inconsistent_with_earlier_note" },
  { name: "a cloned purse's request notes beyond its amount", card: false, purseAmount: 5000, code: "over_purse_amount" },
  { name: "two card notes with one seq", card: true, purseAmount: 10000, code: "inconsistent_with_earlier_note" },
  { name: "a cloned purse's card notes beyond its amount", card: true, purseAmount: 5000, code: "over_purse_amount" },
];

let n = 0;
for (const c of cases) {
  test(`${c.name}: accepted at once, one is stored and the other refused as when one after the other`, async () => {
    n += 1;
    const oneAfter = await forkedNotes({ shop: `seq${n}`, account: 3000 + n, purseAmount: c.purseAmount, card: c.card, together: false });
    assert.deepEqual(oneAfter, { outcomes: ["accepted", c.code], stored: 1 });
    const atOnce = await forkedNotes({ shop: `once${n}`, account: 4000 + n, purseAmount: c.purseAmount, card: c.card, together: true });
    assert.deepEqual({ outcomes: [...atOnce.outcomes].sort(), stored: atOnce.stored }, { outcomes: ["accepted", c.code].sort(), stored: 1 });
  });
}

test("no page errors", () => {
  assert.deepEqual(tab.errors, []);
});
