// In Chromium, with the app's files from disk and no server (serveApp, page-kit.js; `fetch` to
// /v1/ answered by the test): a card note refused at the shop's counter because the payer's
// clock is more than 10 minutes from the shop's (`stale_note`) is kept in IndexedDB (`refusals`)
// before the refusal shows, once however often it is scanned, and refused again
// (`refused_here_before`) when shown again, also once the clocks agree, including by the check
// inside the transaction that would store it; other refusals keep nothing. Sync sends each kept
// refusal with `POST /v1/notes/refusals` after the notes upload, once per sync: a retryable
// answer keeps it for the next sync, a 200 marks it done and it is never sent again, a final
// refusal marks it failed with the server's words; Sync status says so for each.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { openKitPage } from "./page-kit.js";
import { REASONS } from "../public/js/protocol/accept.js";
import { REFUSED_HERE_BEFORE } from "../public/js/offline/counter-refusals.js";

let tab;
before(async () => {
  tab = await openKitPage();
});
after(async () => {
  await tab?.close();
});

/**
 * Defines `window.counter` in the page: a shop `shop` (account `account`) with its card, and
 * `counter.note(amount, {skewS, cap})`: a card note from a new purse of account 1001, signed by a
 * payer whose clock is `skewS` seconds behind this phone's.
 */
function openCounter(shop, account) {
  return tab.page.evaluate(async ([shopHandle, shopAccount]) => {
    const shopJs = await import("/js/offline/shop.js");
    const wallet = await import("/js/offline/wallet.js");
    const { cardNonce } = await import("/js/protocol/accept.js");
    const { allFor } = await import("/js/offline/db.js");
    const app = kit.app(shopHandle, shopAccount);
    const { card } = await shopJs.makeCard(app, "Kiosk");
    window.counter = {
      app,
      async note(amount, { skewS = 0, cap } = {}) {
        const purse = await kit.purse({ payer: `payer-of-${shopHandle}`, account: 1001, amount: 50000, cap: cap ?? 20000 });
        const nonce = await cardNonce(card, crypto.getRandomValues(new Uint8Array(12)));
        const time = BigInt(Math.floor(Date.now() / 1000) - skewS);
        return kit.note(purse, { amount, payee: shopAccount, nonce, time });
      },
      accept: (text) => wallet.acceptText(app, text).then(() => "accepted", (e) => `${e.code}: ${e.reason ?? e.message}`),
      refusals: () => allFor("refusals", shopHandle),
      received: () => allFor("received", shopHandle),
    };
  }, [shop, account]);
}

test("a note refused for the payer's clock is kept once before the refusal shows, and refused again with the clock right", async () => {
  await openCounter("kiosk1", 5001);
  const r = await tab.page.evaluate(async () => {
    const { hashOf, fromText } = await import("/js/protocol/objects.js");
    const { hex } = await import("/js/protocol/crypto.js");
    const text = await counter.note(12000, { skewS: 700 });
    const first = await counter.accept(text);
    const kept = await counter.refusals();
    const again = await counter.accept(text);
    // The shop's clock now agrees with the payer's: without the kept refusal the note would be
    // taken (a twin note, signed the same way and never refused, is).
    const twin = await counter.note(3000, { skewS: 700 });
    const realNow = Date.now;
    Date.now = () => realNow() - 700_000;
    let clockRight;
    let twinOutcome;
    try {
      clockRight = await counter.accept(text);
      twinOutcome = await counter.accept(twin);
    } finally {
      Date.now = realNow;
    }
    const received = await counter.received();
    return {
      first, again, clockRight, twinOutcome,
      kept: kept.map((k) => ({ ...k, refusedMs: typeof k.refusedMs })),
      keptAfter: (await counter.refusals()).length,
      received: received.map((n) => n.amount),
      hash: hex(await hashOf(fromText("note", text))),
      text,
    };
  });
  assert.equal(r.first, `stale_note: ${REASONS.stale_note}`);
  assert.deepEqual(r.kept, [{
    noteHash: r.hash, handle: "kiosk1", text: r.text, amount: 12000, payer: "1001", purseId: r.kept[0]?.purseId,
    reason: "stale_note", refusedMs: "number", state: "pending",
  }]);
  assert.match(r.kept[0].purseId, /^[0-9a-f]{32}$/);
  assert.equal(r.again, `refused_here_before: ${REFUSED_HERE_BEFORE}`);
  assert.equal(r.clockRight, `refused_here_before: ${REFUSED_HERE_BEFORE}`);
  assert.equal(r.twinOutcome, "accepted");
  assert.equal(r.keptAfter, 1, "scanned three times, kept once");
  assert.deepEqual(r.received, [3000], "the refused note was never stored as received");
});

test("the check inside the storing transaction refuses a note refused meanwhile (another tab or scan)", async () => {
  await openCounter("kiosk2", 5002);
  const r = await tab.page.evaluate(async () => {
    const wallet = await import("/js/offline/wallet.js");
    const { acceptCardNote, cardNoncePrefix } = await import("/js/protocol/accept.js");
    const { fromText, hashOf } = await import("/js/protocol/objects.js");
    const { hex } = await import("/js/protocol/crypto.js");
    const { put } = await import("/js/offline/db.js");
    const { refusalRecord } = await import("/js/offline/counter-refusals.js");
    const shopJs = await import("/js/offline/shop.js");
    const text = await counter.note(4000);
    const note = fromText("note", text);
    // This scan's checks pass (the clocks agree) ...
    const mine = await shopJs.myCard("kiosk2");
    void cardNoncePrefix;
    const ok = await acceptCardNote(note, null, {
      card: mine.card, seenNonces: new Set(), window: 600n, ...(await wallet.cachedKeys()), now: wallet.nowSeconds(),
    });
    // ... and before it stores the note, another scan (whose clock was off) kept it as refused.
    await put("refusals", refusalRecord({ noteHash: hex(await hashOf(note)), handle: "kiosk2", text, amount: 4000, payer: 1001, purseId: "00" }));
    const outcome = await wallet.storeAccepted("kiosk2", note, ok, text, async () => {}, { card: true })
      .then(() => "stored", (e) => e.code);
    return { outcome, received: (await counter.received()).length };
  });
  assert.deepEqual(r, { outcome: "refused_here_before", received: 0 });
});

test("the same stale note scanned twice at once is kept once", async () => {
  await openCounter("kiosk3", 5003);
  const r = await tab.page.evaluate(async () => {
    const text = await counter.note(2500, { skewS: -900 });
    const outcomes = await Promise.all([counter.accept(text), counter.accept(text)]);
    return { outcomes: outcomes.map((o) => o.split(":")[0]).sort(), kept: (await counter.refusals()).length };
  });
  assert.equal(r.kept, 1);
  assert.ok(r.outcomes.includes("stale_note"), JSON.stringify(r.outcomes));
  assert.ok(r.outcomes.every((o) => o === "stale_note" || o === "refused_here_before"), JSON.stringify(r.outcomes));
});

test("other refusals at the counter keep nothing: another card, the same code again, a stale note the server refuses anyway", async () => {
  await openCounter("kiosk4", 5004);
  const r = await tab.page.evaluate(async () => {
    const shopJs = await import("/js/offline/shop.js");
    const fresh = await counter.note(1000);
    const taken = await counter.accept(fresh);
    // The same payment code shown again with a new note (a replayed nonce), with the payer's clock off too.
    const { fromText } = await import("/js/protocol/objects.js");
    const replayNonce = fromText("note", fresh).nonce;
    const purse = await kit.purse({ payer: "replayer", account: 1001, amount: 50000 });
    const replay = await kit.note(purse, { amount: 1000, payee: 5004, nonce: replayNonce, time: BigInt(Math.floor(Date.now() / 1000) - 900) });
    const replayed = await counter.accept(replay);
    // Over the purse's limit per payment and stale: the server refuses it too, so it is refused for the limit.
    const overCap = await counter.accept(await counter.note(15000, { skewS: 900, cap: 10000 }));
    // A new card replaces the old one: a stale note for the old card is `wrong_card`.
    const old = await counter.note(1000, { skewS: 900 });
    await shopJs.makeCard(counter.app, "Kiosk again");
    const wrongCard = await counter.accept(old);
    return { taken, replayed: replayed.split(":")[0], overCap: overCap.split(":")[0], wrongCard: wrongCard.split(":")[0], kept: (await counter.refusals()).length };
  });
  assert.deepEqual(r, { taken: "accepted", replayed: "nonce_replayed", overCap: "over_payment_cap", wrongCard: "wrong_card", kept: 0 });
});

test("sync sends each kept refusal once per sync after the notes upload: retry keeps it, 200 ends it, a final refusal fails it with the server's words", async () => {
  await openCounter("kiosk5", 5005);
  const r = await tab.page.evaluate(async () => {
    const { syncNow, autoSync } = await import("/js/offline/sync.js");
    const { get } = await import("/js/offline/db.js");
    const { hashOf, fromText } = await import("/js/protocol/objects.js");
    const { hex } = await import("/js/protocol/crypto.js");
    const syncPage = await import("/js/pages/sync.js");
    const hashOfText = async (t) => hex(await hashOf(fromText("note", t)));
    // One card note taken (to upload), two refused for the payer's clock.
    const taken = await counter.note(5000);
    await counter.accept(taken);
    const held = await counter.note(12000, { skewS: 700 });
    const notPayee = await counter.note(3000, { skewS: 700 });
    await counter.accept(held);
    await counter.accept(notPayee);
    const [takenHash, heldHash, notPayeeHash] = await Promise.all([taken, held, notPayee].map(hashOfText));

    const calls = [];
    const answers = {
      [heldHash]: [[409, { error: { code: "note_held", message: "The note is held; try later." } }],
        [200, { note: heldHash, status: "refunded", amount: 12000, payer: "1001" }]],
      [notPayeeHash]: [[403, { error: { code: "not_payee", message: "Only the note's payee can refuse it" } }]],
    };
    const realFetch = window.fetch;
    let offline = false;
    let attempts = 0;
    window.fetch = async (url, opts) => {
      const path = new URL(String(url), location.href).pathname;
      const body = opts?.body ? JSON.parse(opts.body) : null;
      if (offline && path.startsWith("/v1/notes")) {
        attempts += 1;
        throw new TypeError("Failed to fetch");
      }
      calls.push({ path, note: body?.note ? await hashOfText(body.note) : null, auth: opts?.headers?.Authorization ?? null });
      if (path === "/v1/notes") {
        return new Response(JSON.stringify({ results: body.notes.map((t) => ({ note: takenHash, status: "settled", text: t.length })) }), { status: 200 });
      }
      if (path === "/v1/notes/refusals") {
        const hash = await hashOfText(body.note);
        const [status, answer] = answers[hash].length > 1 ? answers[hash].shift() : answers[hash][0];
        return new Response(JSON.stringify(answer), { status, headers: { "content-type": "application/json" } });
      }
      return new Response(JSON.stringify({ error: { code: "busy", message: "busy" } }), { status: 503 });
    };
    let refreshed = 0;
    const app = { ...counter.app, session: { handle: "kiosk5", token: "tok" }, refreshMe: async () => { refreshed += 1; }, offlineOnly: false, go() {}, handleError() {} };
    const only = (path) => calls.filter((c) => c.path === path || c.path.startsWith("/v1/notes"));
    const rounds = [];
    try {
      const first = await syncNow(app);
      rounds.push({ result: first.refusals, calls: only().map((c) => [c.path, c.note]), state: [(await get("refusals", heldHash)).state, (await get("refusals", notPayeeHash)).state] });
      calls.length = 0;
      const second = await syncNow(app);
      rounds.push({ result: second.refusals, calls: only().map((c) => [c.path, c.note]), state: [(await get("refusals", heldHash)).state, (await get("refusals", notPayeeHash)).state] });
      calls.length = 0;
      const third = await syncNow(app);
      rounds.push({ result: third.refusals, calls: only().map((c) => [c.path, c.note]) });
      calls.length = 0;
      // With no connection, the first refusal's failure ends this sync's sending: the rest wait.
      const c1 = await counter.note(700, { skewS: 700 });
      const c2 = await counter.note(800, { skewS: 700 });
      await counter.accept(c1);
      await counter.accept(c2);
      offline = true;
      const noConnection = { result: await syncNow(app).then((x) => x.refusals, (e) => e.code) };
      noConnection.attempts = attempts;
      offline = false;
      const afterNoConnection = [(await get("refusals", await hashOfText(c1))).state, (await get("refusals", await hashOfText(c2))).state];
      answers[await hashOfText(c1)] = [[200, { note: await hashOfText(c1), status: "voided", amount: 0, payer: "1001" }]];
      answers[await hashOfText(c2)] = [[503, { error: { code: "busy", message: "busy" } }]];
      // Nothing to upload, only refusals pending: the background sync runs for them.
      await autoSync({ ...app, config: { offline: true } });
      const auto = calls.map((c) => [c.path, c.note]).filter(([p]) => p.startsWith("/v1/notes"));
      const afterAuto = [(await get("refusals", await hashOfText(c1))).state, (await get("refusals", await hashOfText(c2))).state];
      // Sync status lists them.
      const section = await syncPage.render(app);
      const list = section.querySelector('[data-testid="counter-refusals"]');
      const lines = [...list.querySelectorAll("li")].map((li) => [li.dataset.state, li.querySelector(".what > span").textContent, li.querySelector(".code")?.textContent ?? null]);
      const summary = section.querySelector('[data-testid="sync-summary"]').textContent;
      return {
        rounds, refreshed, noConnection, afterNoConnection, auto, afterAuto, lines, summary,
        hashes: { takenHash, heldHash, notPayeeHash, c1: await hashOfText(c1), c2: await hashOfText(c2) },
        auth: calls.filter((c) => c.path.startsWith("/v1/notes")).every((c) => c.auth === "Bearer tok"),
        held: await get("refusals", heldHash),
        failed: await get("refusals", notPayeeHash),
      };
    } finally {
      window.fetch = realFetch;
    }
  });
  const { takenHash, heldHash, notPayeeHash, c1, c2 } = r.hashes;
  // Sync 1: the notes upload first, then one request per kept refusal (oldest first).
  assert.deepEqual(r.rounds[0].calls, [["/v1/notes", null], ["/v1/notes/refusals", heldHash], ["/v1/notes/refusals", notPayeeHash]]);
  assert.deepEqual(r.rounds[0].state, ["pending", "failed"]);
  assert.deepEqual(r.rounds[0].result, { done: 0, refunded: 0, waiting: 1, failed: 1 });
  void takenHash;
  // Sync 2: only the pending one is sent again (the note is settled: nothing to upload); refunded.
  assert.deepEqual(r.rounds[1].calls, [["/v1/notes/refusals", heldHash]]);
  assert.deepEqual(r.rounds[1].state, ["done", "failed"]);
  assert.deepEqual(r.rounds[1].result, { done: 1, refunded: 1, waiting: 0, failed: 0 });
  // Sync 3: nothing is sent: a done or failed refusal is never sent again.
  assert.deepEqual(r.rounds[2].calls, []);
  assert.ok(r.refreshed >= 2, "the balance is read again after a settled note and after a refund");
  assert.deepEqual(r.held.done, { status: "refunded", amount: 12000, payer: "1001", note: heldHash });
  assert.deepEqual(r.failed.failure, { code: "not_payee", message: "Only the note's payee can refuse it" });
  assert.deepEqual(r.noConnection, { result: { done: 0, refunded: 0, waiting: 2, failed: 0 }, attempts: 1 });
  assert.deepEqual(r.afterNoConnection, ["pending", "pending"]);
  assert.deepEqual(r.auto, [["/v1/notes/refusals", c1], ["/v1/notes/refusals", c2]]);
  assert.deepEqual(r.afterAuto, ["done", "pending"]);
  assert.ok(r.auth, "every refusal carries the session token");
  assert.equal(r.summary, "1 payment(s) refused at the counter waiting to be given back.");
  assert.deepEqual(r.lines, [
    ["pending", "To return: ₹8.00 to account 1001 (refused at the counter), sent at the next sync.", null],
    ["failed", "Not returned: ₹30.00 to account 1001 (refused at the counter). The server said: Only the note's payee can refuse it. "
      + "If this payment reached this shop's balance, give it back to the payer yourself.", "Code: not_payee"],
    ["done", "Returned ₹7.00 to account 1001 (refused at the counter): the server will not pay it to this shop, and the payer keeps it.", null],
    ["done", "Returned ₹120.00 to account 1001 (refused at the counter): the server took it back from this shop's balance.", null],
  ]);
});

test("no page errors", () => {
  assert.deepEqual(tab.errors, []);
});
