// In Chromium, with the app's files from disk and no server (serveApp, page-kit.js; `fetch` to
// /v1/ answered by the test): a card note refused at the shop's counter because the payer's
// clock is more than 10 minutes from the shop's (`stale_note`), or because the purse's dates do
// not hold by the shop's clock while they hold at the note's own time (`certificate_expired`,
// `certificate_not_yet_valid`), is kept in IndexedDB (`refusals`) before the refusal shows, once
// however often it is scanned, and refused again (`refused_here_before`) when shown again, also
// once the clocks agree, including by the check inside the transaction that would store it;
// other refusals keep nothing. A kept refusal's nonce counts as seen: another note with it is
// refused (`nonce_replayed`), also by the storing transactions, and never taken while the other
// is given back; the counter then says so (REPEATS_A_REFUSED_CODE), not "already received", which
// it says only of a nonce a note taken here has, and keeps that note too (`nonce_replayed`) when it
// passes the keeping re-check with the nonce set aside. The nonce of a note kept for an unknown
// issuer key is not seen (anyone can make one, copying a genuine code's nonce). A kept note counts in its purse's tally: another note with its sequence number
// (a forked purse) is refused (`inconsistent_with_earlier_note`) and neither taken nor kept, also
// by the storing transactions, while the honest payer's next note, chained on it, is taken.
// Sync sends each kept refusal with `POST /v1/notes/refusals` before the notes
// upload, once per sync: a retryable answer keeps it for the next sync, a 200 marks it done and
// it is never sent again, a final refusal marks it failed with the server's words; Sync status
// says so for each. A note for one of this shop's retired cards (made on this device, replaced
// by makeCard) is kept the same way (`wrong_card`), joins its purse's tally and has its nonce
// seen, while a note for a card neither mine nor retired is refused and not kept; a note whose
// purse's issuer key this device does not know is kept (`unknown_issuer_key`) when the rest
// holds, with its nonce not seen and nothing in any tally while the key is unknown, and stays refused
// as `unknown_issuer_key`, keeping nothing, when another check fails (its certificate is
// unchecked, so the other check's reason means nothing); once the cached issuer keys verify its
// certificate it joins its purse's tally (one that does not fit it, or whose certificate does not
// verify, stays out), so its fork is refused, also by the storing transactions, and the payer's
// next note is taken. A note with a nonce taken here is refused and not kept, also when refused
// first for an unknown issuer key (then as that), a revoked purse or a retired card; a note drawn on the shop's
// own account is never kept. A note of a purse or phone on the cached revocation list is kept
// (`revoked`) when the rest holds without the list, joins its purse's tally and has its nonce
// seen; one failing another check too stays refused as `revoked` and keeps nothing. A refusal the
// server answers as no valid payment is counted apart from those not given back (sendRefusals'
// `neverPaid`), and the notice after the sync says there is nothing to give back.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { openKitPage } from "./page-kit.js";
import { REASONS } from "../public/js/protocol/accept.js";
import { KEPT_SENTENCES, REFUSED_HERE_BEFORE } from "../public/js/offline/counter-refusals.js";

/**
 * What the counter says of a code repeating the nonce of a code it refused and keeps to give back
 * (not "already received"): it keeps that code too when it passes the re-check with the nonce set aside.
 */
const REPEATS_A_REFUSED_CODE = "This code repeats the number of a code refused at this counter, so this counter does not take it. "
  + "The shop does not keep this payment: if it was paid, it is given back to the payer at the next sync. "
  + "Hand over nothing for it and ask the payer to pay another way.";

let tab;
before(async () => {
  tab = await openKitPage();
});
after(async () => {
  await tab?.close();
});

/**
 * Defines `window.counter` in the page: a shop `shop` (account `account`) with its card, and
 * `counter.note(amount, {skewS, cap, nonce, validFrom, validUntil, purseId, unknownIssuer, payee, signer})`:
 * a card note from a new purse of account 1001 (valid from `validFrom` to `validUntil`, Unix
 * seconds as BigInt, by default from an hour ago for 30 days; with purse id `purseId`, by default
 * a new one; certified by the issuer key named `unknownIssuer`, which this phone never cached, if
 * given), paying `payee` (by default the shop), signed by a payer whose clock is `skewS` seconds
 * behind this phone's (by the device key named `signer` instead of the purse's, if given: a bad
 * device signature), with `nonce` (by default a new one for `forCard`, by default the card made
 * here first, which a later makeCard retires). `counter.otherCard(name)`: a card of the same shop
 * account signed by another device, `name`'s (another counter of the shop, never this device's).
 */
function openCounter(shop, account) {
  return tab.page.evaluate(async ([shopHandle, shopAccount]) => {
    const shopJs = await import("/js/offline/shop.js");
    const wallet = await import("/js/offline/wallet.js");
    const { cardNonce } = await import("/js/protocol/accept.js");
    const { allFor } = await import("/js/offline/db.js");
    const { deviceKey, sign } = await import("/js/offline/device.js");
    const { encodeCard } = await import("/js/protocol/objects.js");
    const app = kit.app(shopHandle, shopAccount);
    const { card } = await shopJs.makeCard(app, "Kiosk");
    window.counter = {
      app,
      card,
      async note(amount, { skewS = 0, cap, nonce, validFrom, validUntil, purseId, unknownIssuer, payee = shopAccount, signer, forCard = card } = {}) {
        const purse = await kit.purse({
          payer: `payer-of-${shopHandle}`, account: 1001, amount: 50000, cap: cap ?? 20000, validFrom, validUntil, purseId, unknownIssuer,
        });
        if (signer) purse.payerKey = await deviceKey(signer);
        const time = BigInt(Math.floor(Date.now() / 1000) - skewS);
        return kit.note(purse, { amount, payee, nonce: nonce ?? await cardNonce(forCard, crypto.getRandomValues(new Uint8Array(12))), time });
      },
      async otherCard(name) {
        const key = await deviceKey(`other-counter/${name}`);
        return encodeCard({
          payee: BigInt(shopAccount), shopDeviceKey: key.publicKey, currency: "INR", issuedAt: BigInt(Math.floor(Date.now() / 1000)), handle: shopHandle, name,
        }, (b) => sign(key, b));
      },
      acceptKept: (text) => wallet.acceptText(app, text).then(() => "accepted", (e) => ({ code: e.code, kept: e.kept === true })),
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
      nonce: hex(fromText("note", text).nonce),
      prevHash: hex(fromText("note", text).prevHash),
      text,
    };
  });
  assert.equal(r.first, `stale_note: ${REASONS.stale_note}`);
  assert.deepEqual(r.kept, [{
    noteHash: r.hash, handle: "kiosk1", text: r.text, amount: 12000, payer: "1001", purseId: r.kept[0]?.purseId, nonce: r.nonce,
    seq: 1, prevHash: r.prevHash, cumulative: 12000, reason: "stale_note", refusedMs: "number", state: "pending",
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

test("other refusals at the counter keep nothing: another counter's card, the same code again, a stale note the server refuses anyway", async () => {
  await openCounter("kiosk4", 5004);
  const r = await tab.page.evaluate(async () => {
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
    // A stale note for another counter's card of the shop (never this device's) is `wrong_card`.
    const other = await counter.note(1000, { skewS: 900, forCard: await counter.otherCard("Kiosk by the door") });
    const wrongCard = await counter.accept(other);
    return { taken, replayed, overCap: overCap.split(":")[0], wrongCard, kept: (await counter.refusals()).length };
  });
  assert.deepEqual(r, {
    taken: "accepted", replayed: `nonce_replayed: ${REASONS.nonce_replayed}`, overCap: "over_payment_cap", wrongCard: `wrong_card: ${REASONS.wrong_card}`, kept: 0,
  });
});

test("sync sends each kept refusal once per sync before the notes upload: retry keeps it, 200 ends it, a final refusal fails it with the server's words", async () => {
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
  // Sync 1: one request per kept refusal (oldest first), then the notes upload (a note with a
  // refused note's nonce uploaded first would be refused for good as request_already_paid).
  assert.deepEqual(r.rounds[0].calls, [["/v1/notes/refusals", heldHash], ["/v1/notes/refusals", notPayeeHash], ["/v1/notes", null]]);
  assert.deepEqual(r.rounds[0].state, ["pending", "failed"]);
  assert.deepEqual(r.rounds[0].result, { done: 0, refunded: 0, waiting: 1, failed: 1, neverPaid: 0 });
  void takenHash;
  // Sync 2: only the pending one is sent again (the note is settled: nothing to upload); refunded.
  assert.deepEqual(r.rounds[1].calls, [["/v1/notes/refusals", heldHash]]);
  assert.deepEqual(r.rounds[1].state, ["done", "failed"]);
  assert.deepEqual(r.rounds[1].result, { done: 1, refunded: 1, waiting: 0, failed: 0, neverPaid: 0 });
  // Sync 3: nothing is sent: a done or failed refusal is never sent again.
  assert.deepEqual(r.rounds[2].calls, []);
  assert.ok(r.refreshed >= 2, "the balance is read again after a settled note and after a refund");
  assert.deepEqual(r.held.done, { status: "refunded", amount: 12000, payer: "1001", note: heldHash });
  assert.deepEqual(r.failed.failure, { code: "not_payee", message: "Only the note's payee can refuse it" });
  assert.deepEqual(r.noConnection, { result: { done: 0, refunded: 0, waiting: 2, failed: 0, neverPaid: 0 }, attempts: 1 });
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

test("a kept refusal the server answers as no valid payment is counted apart from those not given back, and the notice after the sync says there is nothing to give back", async () => {
  await openCounter("kiosk19", 5019);
  const r = await tab.page.evaluate(async () => {
    const { autoSync } = await import("/js/offline/sync.js");
    const { refusalsSynced } = await import("/js/offline/counter-refusals.js");
    const { hashOf, fromText } = await import("/js/protocol/objects.js");
    const { hex } = await import("/js/protocol/crypto.js");
    const hashOfText = async (t) => hex(await hashOf(fromText("note", t)));
    const answers = {};
    const keep = async (amount, status, code, message) => {
      const text = await counter.note(amount, { skewS: 700 });
      await counter.accept(text);
      answers[await hashOfText(text)] = [status, { error: { code, message } }];
    };
    const realFetch = window.fetch;
    window.fetch = async (url, opts) => {
      const path = new URL(String(url), location.href).pathname;
      if (path === "/v1/notes/refusals") {
        const [status, answer] = answers[await hashOfText(JSON.parse(opts.body).note)];
        return new Response(JSON.stringify(answer), { status, headers: { "content-type": "application/json" } });
      }
      return new Response(JSON.stringify({ error: { code: "busy", message: "busy" } }), { status: 503 });
    };
    const synced = [];
    const app = {
      ...counter.app, session: { handle: "kiosk19", token: "tok" }, refreshMe: async () => {}, offlineOnly: false, go() {}, handleError() {},
      onSynced: (x) => synced.push(x.refusals),
    };
    try {
      // One the server will never pay (the ledger's unpayable note), one it will not take back.
      await keep(2000, 400, "invalid_request", "note: the device signature is not valid");
      await keep(3000, 403, "not_payee", "Only the note's payee can refuse it");
      await autoSync(app);
      // Only one never paid (no purse of the server has its certificate): still said.
      await keep(4000, 404, "unknown_purse", "No such purse");
      await autoSync(app);
    } finally {
      window.fetch = realFetch;
    }
    return { synced, said: synced.map(refusalsSynced), states: (await counter.refusals()).map((k) => [k.amount, k.state]).sort((a, b) => a[0] - b[0]) };
  });
  assert.deepEqual(r.states, [[2000, "failed"], [3000, "failed"], [4000, "failed"]]);
  assert.deepEqual(r.synced, [
    { done: 0, refunded: 0, waiting: 0, failed: 1, neverPaid: 1 },
    { done: 0, refunded: 0, waiting: 0, failed: 0, neverPaid: 1 },
  ]);
  assert.deepEqual(r.said, [
    ["1 payment(s) refused at the counter could not be given back: see Sync status.",
      "1 code refused at the counter was not a valid payment: it was never paid to this shop, so there is nothing to give back."],
    ["1 code refused at the counter was not a valid payment: it was never paid to this shop, so there is nothing to give back."],
  ]);
});

test("a second note with the nonce of a kept refusal is refused as a replay and kept too when it passes the re-check with the nonce set aside, not taken, and not said to be already received", async () => {
  // The attack: the payer signs N1 (clock off: refused and kept to give back) and N2 (right time)
  // with one nonce. Were N2 taken, the payer would upload both first: N1 is paid, N2 refused by
  // the server as request_already_paid, and the shop's refusal of N1 gives N1's money back.
  // Nothing was received for either, so the counter must not say "already received" (the shop
  // would hand the goods over for nothing); it says so only of a nonce a note taken here has.
  // And since the server, N1 given back, may still pay N2, N2 is kept and given back too (one
  // failing another check is not: the server never pays it).
  await openCounter("kiosk6", 5006);
  const r = await tab.page.evaluate(async () => {
    const { fromText } = await import("/js/protocol/objects.js");
    const { hex } = await import("/js/protocol/crypto.js");
    const shopJs = await import("/js/offline/shop.js");
    const wallet = await import("/js/offline/wallet.js");
    const stale = await counter.note(9000, { skewS: 700 });
    const nonce = fromText("note", stale).nonce;
    const first = await counter.accept(stale);
    const second = await counter.accept(await counter.note(9100, { nonce }));
    // With the payer's clock off too, it is still the replay (the nonce is checked first), and kept.
    const third = await counter.accept(await counter.note(9200, { nonce, skewS: -900 }));
    // Refused first for the purse's dates by this phone's clock, then by the check that would keep
    // it (its own time inside them) for the nonce: the same.
    const expired = await counter.accept(await counter.note(9300, { nonce, skewS: 120, validUntil: BigInt(Math.floor(Date.now() / 1000) - 60) }));
    // Over the purse's limit per payment: the server never pays it; refused so, and not kept.
    const overCap = await counter.accept(await counter.note(9400, { nonce, cap: 5000 }));
    // An issuer key this device does not know: kept too, with no entry in any tally.
    const unknownText = await counter.note(9500, { nonce, unknownIssuer: "rotated-6" });
    const unknown = await counter.accept(unknownText);
    const unknownTally = (await wallet.purseTally("kiosk6", fromText("note", unknownText))).notes.size;
    const kept = await counter.refusals();
    // A nonce a note taken here has: that payment was received, and nothing is kept.
    const taken = await counter.note(800);
    const takenOutcome = await counter.accept(taken);
    const replayOfTaken = await counter.accept(await counter.note(800, { nonce: fromText("note", taken).nonce }));
    return {
      first: first.split(":")[0], second, third, expired, overCap, unknown, unknownTally, takenOutcome, replayOfTaken,
      kept: kept.map((k) => [k.amount, k.reason, k.nonce, k.unchecked ?? false]).sort((a, b) => a[0] - b[0]), nonce: hex(nonce),
      keptAfter: (await counter.refusals()).length,
      seen: (await shopJs.seenNonces("kiosk6")).has(hex(nonce)),
      received: (await counter.received()).map((n) => n.amount),
    };
  });
  assert.equal(r.first, "stale_note");
  assert.equal(r.second, `nonce_replayed: ${REPEATS_A_REFUSED_CODE}`);
  assert.equal(r.third, `nonce_replayed: ${REPEATS_A_REFUSED_CODE}`);
  assert.equal(r.expired, `nonce_replayed: ${REPEATS_A_REFUSED_CODE}`);
  assert.equal(r.overCap, `nonce_replayed: ${REPEATS_A_REFUSED_CODE}`);
  assert.equal(r.unknown, `nonce_replayed: ${REPEATS_A_REFUSED_CODE}`);
  assert.deepEqual(r.kept, [
    [9000, "stale_note", r.nonce, false], [9100, "nonce_replayed", r.nonce, false], [9200, "nonce_replayed", r.nonce, false],
    [9300, "nonce_replayed", r.nonce, false], [9500, "nonce_replayed", r.nonce, true],
  ], "each note with the nonce kept, but the one over the cap");
  assert.equal(r.unknownTally, 0, "a note kept with its certificate unchecked is in no tally");
  assert.equal(r.seen, true, "a kept refusal's nonce is a seen nonce");
  assert.equal(r.takenOutcome, "accepted");
  assert.equal(r.replayOfTaken, `nonce_replayed: ${REASONS.nonce_replayed}`);
  assert.equal(r.keptAfter, 5, "the replay of a note taken keeps nothing");
  assert.deepEqual(r.received, [800], "nothing of the kept refusal's nonce was taken");
});

test("a forged note with an unknown issuer key and the nonce of a customer's genuine code is kept, and does not stop the genuine code: it is taken", async () => {
  // Anyone can make a note with an unknown issuer key (no purse needed), copying the nonce of a
  // genuine code from its QR. Were its nonce seen, the genuine code would be refused with "hand
  // over nothing", while the server still pays it when the customer syncs: charged twice.
  await openCounter("kiosk24", 5024);
  const r = await tab.page.evaluate(async () => {
    const { fromText } = await import("/js/protocol/objects.js");
    const { hex } = await import("/js/protocol/crypto.js");
    const shopJs = await import("/js/offline/shop.js");
    const genuine = await counter.note(6000);
    const nonce = fromText("note", genuine).nonce;
    const forged = await counter.acceptKept(await counter.note(6000, { nonce, unknownIssuer: "forger-24", purseId: crypto.getRandomValues(new Uint8Array(16)) }));
    const seen = (await shopJs.seenNonces("kiosk24")).has(hex(nonce));
    const taken = await counter.accept(genuine);
    return {
      forged, seen, taken,
      kept: (await counter.refusals()).map((k) => k.reason), received: (await counter.received()).map((n) => n.amount),
    };
  });
  assert.deepEqual(r.forged, { code: "unknown_issuer_key", kept: true });
  assert.equal(r.seen, false, "the nonce of a note kept unchecked is not seen");
  assert.equal(r.taken, "accepted");
  assert.deepEqual(r.kept, ["unknown_issuer_key"]);
  assert.deepEqual(r.received, [6000]);
});

test("the storing transaction refuses a note whose nonce a refusal kept meanwhile holds, also one kept before refusals recorded their nonce", async () => {
  await openCounter("kiosk7", 5007);
  const r = await tab.page.evaluate(async () => {
    const wallet = await import("/js/offline/wallet.js");
    const shopJs = await import("/js/offline/shop.js");
    const { acceptCardNote } = await import("/js/protocol/accept.js");
    const { fromText, hashOf } = await import("/js/protocol/objects.js");
    const { hex } = await import("/js/protocol/crypto.js");
    const { put } = await import("/js/offline/db.js");
    const { refusalRecord } = await import("/js/offline/counter-refusals.js");
    const mine = await shopJs.myCard("kiosk7");
    const raced = async (recordNonce) => {
      const refusedText = await counter.note(5000, { skewS: 700 });
      const refused = fromText("note", refusedText);
      const text = await counter.note(5000, { nonce: refused.nonce });
      const note = fromText("note", text);
      // This scan's checks pass (the nonce is not seen yet) ...
      const ok = await acceptCardNote(note, null, {
        card: mine.card, seenNonces: await shopJs.seenNonces("kiosk7"), window: 600n, ...(await wallet.cachedKeys()), now: wallet.nowSeconds(),
      });
      // ... and before it stores the note, another scan kept the other note as refused.
      await put("refusals", refusalRecord({
        noteHash: hex(await hashOf(refused)), handle: "kiosk7", text: refusedText, amount: 5000, payer: 1001,
        purseId: hex(refused.certificate.purseId), ...(recordNonce ? { nonce: hex(refused.nonce) } : {}),
      }));
      const stored = await wallet.storeAccepted("kiosk7", note, ok, text, async () => {}, { card: true }).then(() => "stored", (e) => `${e.code}: ${e.reason}`);
      return { stored, seen: (await shopJs.seenNonces("kiosk7")).has(hex(refused.nonce)) };
    };
    const withNonce = await raced(true);
    const oldRecord = await raced(false);
    return { withNonce, oldRecord, received: (await counter.received()).length };
  });
  // Nothing was received for either: not "already received".
  const stored = `nonce_replayed: ${REPEATS_A_REFUSED_CODE}`;
  assert.deepEqual(r, { withNonce: { stored, seen: true }, oldRecord: { stored, seen: true }, received: 0 });
});

test("a note kept meanwhile (after the first look) is refused as refused here, not as a replay of its own nonce", async () => {
  await openCounter("kiosk11", 5011);
  const r = await tab.page.evaluate(async () => {
    const shopJs = await import("/js/offline/shop.js");
    const wallet = await import("/js/offline/wallet.js");
    const { fromText } = await import("/js/protocol/objects.js");
    const text = await counter.note(2000, { skewS: 700 });
    const first = await counter.accept(text);
    // acceptText looks for the note among those refused before it calls acceptCard: here another
    // scan kept it in between, and acceptCard reads the seen nonces with its nonce among them.
    const note = fromText("note", text);
    const again = await shopJs.acceptCard(counter.app, note, text, wallet.tallyOf(note, [])).then(() => "accepted", (e) => e.code);
    return { first: first.split(":")[0], again };
  });
  assert.deepEqual(r, { first: "stale_note", again: "refused_here_before" });
});

test("a note kept as refused and another with its nonce, scanned at once: never one given back and the other taken (both kept, or one taken)", async () => {
  await openCounter("kiosk8", 5008);
  const r = await tab.page.evaluate(async () => {
    const { fromText, hashOf } = await import("/js/protocol/objects.js");
    const { hex } = await import("/js/protocol/crypto.js");
    const { get } = await import("/js/offline/db.js");
    const rounds = [];
    for (let i = 0; i < 8; i++) {
      const stale = await counter.note(100 + i, { skewS: 700 });
      const nonce = fromText("note", stale).nonce;
      const right = await counter.note(100 + i, { nonce });
      let a;
      let b;
      if (i % 2) [a, b] = await Promise.all([counter.accept(stale), counter.accept(right)]);
      else [b, a] = await Promise.all([counter.accept(right), counter.accept(stale)]);
      const kept = Boolean(await get("refusals", hex(await hashOf(fromText("note", stale)))));
      const rightKept = (await get("refusals", hex(await hashOf(fromText("note", right)))))?.reason ?? null;
      rounds.push({ stale: a, right: b, kept, rightKept });
    }
    return rounds;
  });
  const received = `nonce_replayed: ${REASONS.nonce_replayed}`;
  for (const round of r) {
    // Kept: the other one repeats a refused code (nothing received) and is kept too, also when the
    // storing transaction found the stale one kept. Taken: the stale one's nonce was received.
    const oneOf = (round.kept && round.stale.startsWith("stale_note:") && round.right === `nonce_replayed: ${REPEATS_A_REFUSED_CODE}` && round.rightKept === "nonce_replayed")
      || (!round.kept && round.stale === received && round.right === "accepted" && round.rightKept === null);
    assert.ok(oneOf, JSON.stringify(r));
  }
});

test("two notes to keep with one nonce, scanned at once: both kept, one as repeating a refused code (also by the storing transaction); a note with an unknown issuer key is never said to be a replay, nor stops a note taken", async () => {
  await openCounter("kiosk23", 5023);
  const r = await tab.page.evaluate(async () => {
    const { fromText } = await import("/js/protocol/objects.js");
    const out = { pairs: [], unknown: [] };
    for (let i = 0; i < 6; i++) {
      // One nonce, both with the payer's clock off: each passes the first look, and the
      // transaction that would keep the second finds the first kept.
      const first = await counter.note(200 + i, { skewS: 700 });
      const second = await counter.note(200 + i, { skewS: 700, nonce: fromText("note", first).nonce });
      out.pairs.push((await Promise.all([counter.accept(first), counter.accept(second)])).sort());
      // A note with an issuer key this device does not know (its certificate unchecked: anyone
      // can make one) and the nonce of a note taken at the same time.
      const taken = await counter.note(300 + i);
      const forged = await counter.note(300 + i, { unknownIssuer: "rotated-23", nonce: fromText("note", taken).nonce });
      const [a, b] = i % 2
        ? await Promise.all([counter.accept(taken), counter.acceptKept(forged)])
        : (await Promise.all([counter.acceptKept(forged), counter.accept(taken)])).reverse();
      out.unknown.push({ taken: a, forged: b });
    }
    out.kept = (await counter.refusals()).map((k) => k.reason);
    out.received = (await counter.received()).length;
    return out;
  });
  for (const pair of r.pairs) {
    assert.deepEqual(pair, [`nonce_replayed: ${REPEATS_A_REFUSED_CODE}`, `stale_note: ${REASONS.stale_note}`], JSON.stringify(r.pairs));
  }
  for (const u of r.unknown) {
    // Kept first (its nonce is not seen: the taken one is taken still) or refused as unknown_issuer_key.
    assert.equal(u.forged.code, "unknown_issuer_key", JSON.stringify(r.unknown));
    assert.equal(u.taken, "accepted", JSON.stringify(r.unknown));
  }
  assert.equal(r.kept.filter((k) => k === "stale_note").length, 6, "one of each pair kept as itself");
  assert.equal(r.kept.filter((k) => k === "nonce_replayed").length, 6, "the other kept as repeating it");
  assert.equal(r.kept.filter((k) => k === "unknown_issuer_key").length, r.unknown.filter((u) => u.forged.kept).length);
  assert.equal(r.received, 6);
});

test("a note refused for the purse's dates by this phone's clock is kept when its own time is inside them, and not when it is outside", async () => {
  // The payer's clock is behind: its phone signs after the purse's valid_until (by the shop's
  // clock) at a time inside the purse's window, and the server pays such a note until the
  // settlement deadline. A note whose own time is outside the window is plainly refused.
  await openCounter("kiosk9", 5009);
  const r = await tab.page.evaluate(async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = { validUntil: BigInt(now - 60) };
    const early = { validFrom: BigInt(now + 60) };
    const expiredKept = await counter.note(4000, { skewS: 120, ...expired });
    const out = {
      expiredKept: await counter.accept(expiredKept),
      expiredPlain: await counter.accept(await counter.note(4100, { skewS: 30, ...expired })),
      earlyKept: await counter.acceptKept(await counter.note(4200, { skewS: -120, ...early })),
      earlyPlain: await counter.acceptKept(await counter.note(4300, { skewS: -30, ...early })),
      // Kept only when every other check passes: over the cap, it is refused for that.
      overCap: await counter.accept(await counter.note(15000, { skewS: 120, cap: 10000, ...expired })),
      again: await counter.accept(expiredKept),
    };
    out.kept = (await counter.refusals()).map((k) => [k.amount, k.reason, k.state]).sort((a, b) => a[0] - b[0]);
    out.received = (await counter.received()).length;
    return out;
  });
  assert.equal(r.expiredKept, `certificate_expired: ${KEPT_SENTENCES.certificate_expired}`);
  assert.equal(r.expiredPlain, `certificate_expired: ${REASONS.certificate_expired}`);
  assert.deepEqual(r.earlyKept, { code: "certificate_not_yet_valid", kept: true });
  assert.deepEqual(r.earlyPlain, { code: "certificate_not_yet_valid", kept: false });
  assert.equal(r.overCap.split(":")[0], "over_payment_cap");
  assert.equal(r.again, `refused_here_before: ${REFUSED_HERE_BEFORE}`);
  assert.deepEqual(r.kept, [[4000, "certificate_expired", "pending"], [4200, "certificate_not_yet_valid", "pending"]]);
  assert.equal(r.received, 0);
});

test("sync sends the refusals before the notes upload, and throws the upload's error after them; unfinished closes are finished after", async () => {
  await openCounter("kiosk10", 5010);
  const r = await tab.page.evaluate(async () => {
    const { syncNow } = await import("/js/offline/sync.js");
    const { closePurses } = await import("/js/offline/close.js");
    const { get } = await import("/js/offline/db.js");
    const { hashOf, fromText } = await import("/js/protocol/objects.js");
    const { hex } = await import("/js/protocol/crypto.js");
    const taken = await counter.note(5000);
    await counter.accept(taken);
    const stale = await counter.note(6000, { skewS: 700 });
    await counter.accept(stale);
    const staleHash = hex(await hashOf(fromText("note", stale)));
    // A purse of the shop's whose close had no answer: sync finishes it.
    const own = await kit.purse({ payer: "kiosk10", account: 5010, amount: 30000 });
    await kit.storePurse("kiosk10", own);
    const calls = [];
    const realFetch = window.fetch;
    let closeAnswers = false;
    window.fetch = async (url, opts) => {
      const path = new URL(String(url), location.href).pathname;
      const json = (status, body) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
      if (path.startsWith("/v1/notes") || path.endsWith("/close")) calls.push(path.endsWith("/close") ? "close" : path);
      if (path === "/v1/notes/refusals") return json(200, { note: staleHash, status: "voided", amount: 0, payer: "1001" });
      if (path.endsWith("/close")) {
        if (!closeAnswers) throw new TypeError("Failed to fetch");
        return json(200, { returned: 30000, held: 0, balance: 30000, fraud: false });
      }
      if (path === "/v1/purses") return json(200, { purses: [] });
      return json(503, { error: { code: "busy", message: "The server is busy." } });
    };
    const app = { ...counter.app, session: { handle: "kiosk10", token: "tok" }, refreshMe: async () => {}, handleError() {} };
    try {
      await closePurses(app).catch(() => {});
      calls.length = 0;
      closeAnswers = true;
      const outcome = await syncNow(app).then(() => "resolved", (e) => e.code);
      return { outcome, calls, refusal: (await get("refusals", staleHash)).state, purse: (await get("purses", hex(own.cert.purseId))).status };
    } finally {
      window.fetch = realFetch;
    }
  });
  assert.deepEqual(r, { outcome: "busy", calls: ["/v1/notes/refusals", "/v1/notes", "close"], refusal: "done", purse: "closed" });
});

/**
 * Defines `window.fork` in the page for the counter `shop` (account `account`, opened by
 * openCounter): `fork.purse(payer)`, a purse of account 1001 (50000, cap 20000) for `payer`'s
 * device key, and `fork.note(purse, amount, {seq, after, skewS})`: the text of note `seq` of it
 * for this shop's card with a new nonce, chained on the note text `after` (its hash and
 * cumulative; by default the first note), signed by a clock `skewS` seconds behind this phone's.
 */
function openFork(shop, account) {
  return tab.page.evaluate(async ([shopHandle, shopAccount]) => {
    const shopJs = await import("/js/offline/shop.js");
    const { cardNonce } = await import("/js/protocol/accept.js");
    const { fromText, hashOf } = await import("/js/protocol/objects.js");
    const { card } = await shopJs.myCard(shopHandle);
    window.fork = {
      purse: (payer) => kit.purse({ payer, account: 1001, amount: 50000, cap: 20000 }),
      async note(purse, amount, { seq = 1, after, skewS = 0 } = {}) {
        const earlier = after ? fromText("note", after) : null;
        return kit.note(purse, {
          seq, amount, payee: shopAccount, nonce: await cardNonce(card, crypto.getRandomValues(new Uint8Array(12))),
          prevHash: earlier ? await hashOf(earlier) : purse.certHash, cumulative: (earlier?.cumulative ?? 0) + amount,
          time: BigInt(Math.floor(Date.now() / 1000) - skewS),
        });
      },
    };
  }, [shop, account]);
}

test("a forked purse: a note with the sequence number of a kept refusal is refused, not taken; the honest payer's next note is taken", async () => {
  // The attack: the payer forks a purse. Branch A's note 1 is shown with a wrong clock (kept to be
  // given back), then branch B's note 1, another note, with the right time. Were B taken, the shop
  // would give A back and hold B, which the server pays from the purse's reserve or, once the
  // fork is found, from the operator's fraud loss.
  await openCounter("kiosk12", 5012);
  await openFork("kiosk12", 5012);
  const r = await tab.page.evaluate(async () => {
    const forked = await fork.purse("forker-12");
    const a = await fork.note(forked, 9000, { skewS: 700 });
    const b = await fork.note(forked, 9000);
    const bSmaller = await fork.note(forked, 4000);
    // A stale note of a third branch (seq 1 again) is refused for the fork, and not kept.
    const c = await fork.note(forked, 3000, { skewS: 700 });
    const out = {
      a: await counter.accept(a), b: await counter.accept(b), bSmaller: (await counter.accept(bSmaller)).split(":")[0],
      c: (await counter.acceptKept(c)),
    };
    // An honest payer whose note 1 was kept (its clock was off) pays again with note 2, chained on it.
    const honest = await fork.purse("honest-12");
    const h1 = await fork.note(honest, 6000, { skewS: 700 });
    const h2 = await fork.note(honest, 6000, { seq: 2, after: h1 });
    const h3 = await fork.note(honest, 2500, { seq: 3, after: h2 });
    Object.assign(out, { h1: (await counter.accept(h1)).split(":")[0], h2: await counter.accept(h2), h3: await counter.accept(h3) });
    out.kept = (await counter.refusals()).map((k) => k.amount).sort((x, y) => x - y);
    out.received = (await counter.received()).map((n) => [n.seq, n.amount]).sort((x, y) => x[0] - y[0]);
    return out;
  });
  assert.equal(r.a.split(":")[0], "stale_note");
  assert.equal(r.b, `inconsistent_with_earlier_note: ${REASONS.inconsistent_with_earlier_note}`);
  assert.equal(r.bSmaller, "inconsistent_with_earlier_note");
  assert.deepEqual(r.c, { code: "inconsistent_with_earlier_note", kept: false });
  assert.equal(r.h1, "stale_note");
  assert.equal(r.h2, "accepted");
  assert.equal(r.h3, "accepted");
  assert.deepEqual(r.kept, [6000, 9000], "the forked purse's first note and the honest payer's: no other branch kept");
  assert.deepEqual(r.received, [[2, 6000], [3, 2500]], "nothing of the forked purse was taken");
});

test("the storing transaction checks the tally with the refusals kept meanwhile, also one kept before refusals stored their place in the chain", async () => {
  await openCounter("kiosk13", 5013);
  await openFork("kiosk13", 5013);
  const r = await tab.page.evaluate(async () => {
    const wallet = await import("/js/offline/wallet.js");
    const shopJs = await import("/js/offline/shop.js");
    const { acceptCardNote } = await import("/js/protocol/accept.js");
    const { fromText, hashOf } = await import("/js/protocol/objects.js");
    const { hex } = await import("/js/protocol/crypto.js");
    const { put } = await import("/js/offline/db.js");
    const { refusalRecord } = await import("/js/offline/counter-refusals.js");
    const mine = await shopJs.myCard("kiosk13");
    const raced = async (oldRecord) => {
      const forked = await fork.purse("forker-13");
      const keptText = await fork.note(forked, 5000, { skewS: 700 });
      const kept = fromText("note", keptText);
      const text = await fork.note(forked, 5000);
      const note = fromText("note", text);
      // This scan's checks pass against the tally it read (nothing of the purse yet) ...
      const ok = await acceptCardNote(note, null, {
        card: mine.card, seenNonces: await shopJs.seenNonces("kiosk13"), window: 600n, ...(await wallet.cachedKeys()), now: wallet.nowSeconds(),
      });
      // ... and before it stores the note, another scan kept the other branch's note 1 as refused.
      await put("refusals", refusalRecord({
        noteHash: hex(await hashOf(kept)), handle: "kiosk13", text: keptText, amount: 5000, payer: 1001, nonce: hex(kept.nonce),
        ...(oldRecord ? { purseId: "00" } : { purseId: hex(kept.certificate.purseId), seq: 1, prevHash: hex(kept.prevHash), cumulative: 5000 }),
      }));
      return wallet.storeAccepted("kiosk13", note, ok, text, async () => {}, { card: true }).then(() => "stored", (e) => e.code);
    };
    return { now: await raced(false), old: await raced(true), received: (await counter.received()).length };
  });
  assert.deepEqual(r, { now: "inconsistent_with_earlier_note", old: "inconsistent_with_earlier_note", received: 0 });
});

test("two stale notes of a forked purse with one sequence number, scanned at once: one is kept, the other refused for the fork", async () => {
  await openCounter("kiosk14", 5014);
  await openFork("kiosk14", 5014);
  const r = await tab.page.evaluate(async () => {
    const rounds = [];
    for (let i = 0; i < 6; i++) {
      const forked = await fork.purse(`forker-14-${i}`);
      const [x, y] = [await fork.note(forked, 1000 + i, { skewS: 700 }), await fork.note(forked, 2000 + i, { skewS: -700 })];
      const outcomes = await Promise.all(i % 2 ? [counter.accept(x), counter.accept(y)] : [counter.accept(y), counter.accept(x)]);
      rounds.push(outcomes.map((o) => o.split(":")[0]).sort());
    }
    return { rounds, kept: (await counter.refusals()).length };
  });
  for (const round of r.rounds) assert.deepEqual(round, ["inconsistent_with_earlier_note", "stale_note"], JSON.stringify(r.rounds));
  assert.equal(r.kept, 6, "one note kept per forked purse");
});

test("a note for this shop's retired card is kept once (wrong_card) and its nonce then seen; a fork of it is refused; the payer's next note at the new card is taken", async () => {
  // Only this device had the old card, so no other counter takes the note, and the server would
  // pay it when the payer syncs: the counter keeps it to give back, like a clock's refusal.
  await openCounter("kiosk15", 5015);
  const r = await tab.page.evaluate(async () => {
    const shopJs = await import("/js/offline/shop.js");
    const { cardNonce } = await import("/js/protocol/accept.js");
    const { fromText, hashOf } = await import("/js/protocol/objects.js");
    const { hex } = await import("/js/protocol/crypto.js");
    const { get } = await import("/js/offline/db.js");
    const random = () => crypto.getRandomValues(new Uint8Array(12));
    const now = BigInt(Math.floor(Date.now() / 1000));
    const first = counter.card;
    const firstText = (await shopJs.myCard("kiosk15")).text;
    const retiredBefore = await get("meta", "cards.retired.kiosk15");
    // The payer scanned the first card and pays it; meanwhile the shop made a new card.
    const purse = await kit.purse({ payer: "payer-15", account: 1001, amount: 50000, cap: 20000 });
    const oldNote = await kit.note(purse, { amount: 7000, payee: 5015, nonce: await cardNonce(first, random()), time: now });
    const { card: current, text: currentText } = await shopJs.makeCard(counter.app, "Kiosk renamed");
    const out = { retiredBefore: retiredBefore ?? null };
    out.kept = await counter.acceptKept(oldNote);
    out.current = await counter.accept(await counter.note(1500, { forCard: current }));
    out.again = await counter.accept(oldNote);
    const nonce = hex(fromText("note", oldNote).nonce);
    out.seen = (await shopJs.seenNonces("kiosk15")).has(nonce);
    // Another note with its nonce: a replay, not taken, kept too (the nonce set aside, it passes).
    out.sameNonce = await counter.acceptKept(await counter.note(7000, { nonce: fromText("note", oldNote).nonce }));
    // A fork of it: another note 1 of its purse, for the new card, with the right time.
    const fork = await kit.note(purse, { amount: 7000, payee: 5015, nonce: await cardNonce(current, random()), time: now });
    out.fork = (await counter.acceptKept(fork));
    // The honest payer scans the new card and pays again: note 2, chained on the kept note 1.
    const next = await kit.note(purse, {
      seq: 2, prevHash: await hashOf(fromText("note", oldNote)), cumulative: 14000, amount: 7000, payee: 5015, nonce: await cardNonce(current, random()), time: now,
    });
    out.next = await counter.accept(next);
    // With the payer's clock off too it is kept for the old card; over the purse's limit per
    // payment (the server refuses it too) it is refused for that, and not kept.
    out.stale = await counter.acceptKept(await counter.note(2500, { skewS: 900 }));
    // So too when the purse's dates do not hold by this phone's clock (the other clock reasons):
    // told and kept as the old card, whatever clock refused it first.
    out.expired = await counter.acceptKept(await counter.note(2600, { skewS: 120, validUntil: now - 60n }));
    out.early = await counter.acceptKept(await counter.note(2700, { skewS: -120, validFrom: now + 60n }));
    out.overCap = await counter.acceptKept(await counter.note(15000, { cap: 10000 }));
    // A third card: both earlier cards are retired, and notes for either are kept.
    await shopJs.makeCard(counter.app, "Kiosk again");
    out.firstAgain = await counter.acceptKept(await counter.note(3100, { forCard: first }));
    out.second = await counter.acceptKept(await counter.note(3200, { forCard: current }));
    out.retired = (await get("meta", "cards.retired.kiosk15"))?.v ?? null;
    out.retiredCards = (await shopJs.retiredCards("kiosk15")).map((c) => c.text);
    out.texts = [firstText, currentText];
    out.refusals = (await counter.refusals()).map((k) => [k.amount, k.reason, k.state, k.seq]).sort((a, b) => a[0] - b[0] || a[1].localeCompare(b[1]));
    out.received = (await counter.received()).map((n) => [n.seq, n.amount]).sort((a, b) => a[1] - b[1]);
    return out;
  });
  assert.equal(r.retiredBefore, null, "the first card retires no card");
  assert.deepEqual(r.kept, { code: "wrong_card", kept: true });
  assert.equal(r.current, "accepted", "a note for the new card is taken");
  assert.equal(r.again, `refused_here_before: ${REFUSED_HERE_BEFORE}`);
  assert.equal(r.seen, true, "the kept note's nonce counts as seen");
  assert.deepEqual(r.sameNonce, { code: "nonce_replayed", kept: true });
  assert.deepEqual(r.fork, { code: "inconsistent_with_earlier_note", kept: false });
  assert.equal(r.next, "accepted");
  assert.deepEqual(r.stale, { code: "wrong_card", kept: true });
  assert.deepEqual(r.expired, { code: "wrong_card", kept: true });
  assert.deepEqual(r.early, { code: "wrong_card", kept: true });
  assert.deepEqual(r.overCap, { code: "over_payment_cap", kept: false });
  assert.deepEqual(r.firstAgain, { code: "wrong_card", kept: true });
  assert.deepEqual(r.second, { code: "wrong_card", kept: true });
  assert.deepEqual(r.retired, { texts: r.texts }, "every card replaced, oldest first, kept under cards.retired.<handle>");
  assert.deepEqual(r.retiredCards, r.texts);
  assert.deepEqual(r.refusals, [
    [2500, "wrong_card", "pending", 1], [2600, "wrong_card", "pending", 1], [2700, "wrong_card", "pending", 1], [3100, "wrong_card", "pending", 1], [3200, "wrong_card", "pending", 1], [7000, "nonce_replayed", "pending", 1],
    [7000, "wrong_card", "pending", 1],
  ]);
  assert.deepEqual(r.received, [[1, 1500], [2, 7000]], "neither the old card's note nor its fork was taken");
});

test("the sentence of a note kept for the retired card, and a note for a card neither mine nor retired refused and not kept, also with a clock off; with an unknown issuer key it is refused as that", async () => {
  await openCounter("kiosk16", 5016);
  const r = await tab.page.evaluate(async () => {
    const shopJs = await import("/js/offline/shop.js");
    const old = await counter.note(4000);
    await shopJs.makeCard(counter.app, "Kiosk 16 new");
    const other = await counter.otherCard("Kiosk 16 by the door");
    return {
      old: await counter.accept(old),
      // For the old card and an issuer key this device does not know: kept for the key.
      oldUnknownKey: await counter.acceptKept(await counter.note(4400, { unknownIssuer: "rotated-16" })),
      other: await counter.accept(await counter.note(1000, { forCard: other })),
      otherStale: await counter.acceptKept(await counter.note(1100, { forCard: other, skewS: 900 })),
      otherUnknownKey: await counter.accept(await counter.note(1200, { forCard: other, unknownIssuer: "rotated-16" })),
      kept: (await counter.refusals()).map((k) => [k.amount, k.reason]).sort((a, b) => a[0] - b[0]),
      received: (await counter.received()).length,
    };
  });
  assert.equal(r.old, `wrong_card: ${KEPT_SENTENCES.wrong_card}`);
  assert.deepEqual(r.oldUnknownKey, { code: "unknown_issuer_key", kept: true });
  assert.equal(r.other, `wrong_card: ${REASONS.wrong_card}`);
  assert.deepEqual(r.otherStale, { code: "wrong_card", kept: false });
  // Its certificate is unchecked, so the card says nothing (a forger can name any card): refused
  // as unknown_issuer_key, whose sentence promises nothing, and not kept.
  assert.equal(r.otherUnknownKey, `unknown_issuer_key: ${REASONS.unknown_issuer_key}`);
  assert.deepEqual(r.kept, [[4000, "wrong_card"], [4400, "unknown_issuer_key"]], "only the retired card's notes are kept");
  assert.equal(r.received, 0);
});

test("a note whose purse's issuer key this device does not know is kept when the rest holds, never in the tally; one failing another check stays refused as unknown_issuer_key and is not kept", async () => {
  await openCounter("kiosk17", 5017);
  const r = await tab.page.evaluate(async () => {
    const shopJs = await import("/js/offline/shop.js");
    const wallet = await import("/js/offline/wallet.js");
    const { cardNonce } = await import("/js/protocol/accept.js");
    const { fromText } = await import("/js/protocol/objects.js");
    const { hex } = await import("/js/protocol/crypto.js");
    const key = { unknownIssuer: "rotated-17" };
    const text = await counter.note(8000, key);
    const note = fromText("note", text);
    const out = { kept: await counter.accept(text) };
    out.tally = (await wallet.purseTally("kiosk17", note)).notes.size;
    out.seen = (await shopJs.seenNonces("kiosk17")).has(hex(note.nonce));
    out.again = await counter.accept(text);
    out.sameNonce = await counter.acceptKept(await counter.note(8000, { ...key, nonce: note.nonce }));
    // With the payer's clock off too: kept for the key (the time set aside).
    out.stale = await counter.acceptKept(await counter.note(3000, { ...key, skewS: 900 }));
    // A forged note (any key can sign an unknown certificate) naming a genuine purse's id is kept,
    // but does not join that purse's tally: the genuine purse's note 1 is still taken.
    const genuine = await kit.purse({ payer: "payer-17", account: 1001, amount: 50000, cap: 20000 });
    out.forged = await counter.acceptKept(await counter.note(9000, { ...key, purseId: genuine.cert.purseId }));
    const genuineNote = await kit.note(genuine, { amount: 5000, payee: 5017, nonce: await cardNonce(counter.card, crypto.getRandomValues(new Uint8Array(12))) });
    out.genuine = await counter.accept(genuineNote);
    // Failing another check: still refused for the key (with its certificate unchecked, the other
    // reason means nothing), nothing kept.
    const now = Math.floor(Date.now() / 1000);
    out.wrongPayee = await counter.acceptKept(await counter.note(4100, { ...key, payee: 9999 }));
    out.badSignature = await counter.acceptKept(await counter.note(4200, { ...key, signer: "not-the-payer-17" }));
    out.overCap = await counter.acceptKept(await counter.note(15000, { ...key, cap: 10000 }));
    out.ownTimeOutside = await counter.accept(await counter.note(4300, { ...key, skewS: 30, validUntil: BigInt(now - 60) }));
    out.refusals = (await counter.refusals()).map((k) => [k.amount, k.reason, k.state, k.nonce === undefined]).sort((a, b) => a[0] - b[0]);
    out.received = (await counter.received()).map((n) => n.amount);
    return out;
  });
  assert.equal(r.kept, `unknown_issuer_key: ${KEPT_SENTENCES.unknown_issuer_key}`);
  assert.equal(r.tally, 0, "nothing of the note is in its purse's tally");
  assert.equal(r.seen, false, "its nonce does not count as seen (anyone can make such a note)");
  assert.equal(r.again, `refused_here_before: ${REFUSED_HERE_BEFORE}`);
  assert.deepEqual(r.sameNonce, { code: "unknown_issuer_key", kept: true });
  assert.deepEqual(r.stale, { code: "unknown_issuer_key", kept: true });
  assert.deepEqual(r.forged, { code: "unknown_issuer_key", kept: true });
  assert.equal(r.genuine, "accepted");
  assert.deepEqual(r.wrongPayee, { code: "unknown_issuer_key", kept: false });
  assert.deepEqual(r.badSignature, { code: "unknown_issuer_key", kept: false });
  assert.deepEqual(r.overCap, { code: "unknown_issuer_key", kept: false });
  assert.equal(r.ownTimeOutside, `unknown_issuer_key: ${REASONS.unknown_issuer_key}`);
  assert.deepEqual(r.refusals, [
    [3000, "unknown_issuer_key", "pending", false], [8000, "unknown_issuer_key", "pending", false], [8000, "unknown_issuer_key", "pending", false],
    [9000, "unknown_issuer_key", "pending", false],
  ]);
  assert.deepEqual(r.received, [5000]);
});

test("a note of a revoked purse or phone is kept (revoked) when the rest holds, with its nonce seen and in its purse's tally, so a fork of it is refused once the list is emptied; one failing another check too is refused as revoked and not kept", async () => {
  // The server still pays the notes of a revoked purse (from its reserve, then the payer's
  // balance, then the operator's loss allowance): a note refused here and paid anyway would take
  // money the purse's honest payees need, so it is kept and given back like a clock's refusal.
  await openCounter("kiosk18", 5018);
  await openFork("kiosk18", 5018);
  const r = await tab.page.evaluate(async () => {
    const shopJs = await import("/js/offline/shop.js");
    const wallet = await import("/js/offline/wallet.js");
    const { fromText } = await import("/js/protocol/objects.js");
    const { hex } = await import("/js/protocol/crypto.js");
    const { put } = await import("/js/offline/db.js");
    // The revocation list as refreshKeys caches it (every test of this page shares it: emptied at the end).
    const revoke = (purses, devices = []) => put("issuers", { keyId: "revocations", purses: purses.map(hex), devices: devices.map(hex) });
    const id = () => crypto.getRandomValues(new Uint8Array(16));
    const purse = await fork.purse("payer-18");
    const phoneRevoked = await fork.purse("payer-18-phone");
    const [badSig, otherCard, stale, retired] = [id(), id(), id(), id()];
    const out = {};
    let text;
    try {
      await revoke([purse.cert.purseId, badSig, otherCard, stale, retired], [phoneRevoked.cert.deviceKey]);
      // Over the purse's limit per payment (20,000) too: the server never pays it. The counter's
      // first failing check was the revocation list: refused as revoked, nothing kept.
      out.overCap = await counter.accept(await fork.note(purse, 25000));
      out.keptAfterOverCap = (await counter.refusals()).length;
      text = await fork.note(purse, 5000);
      const note = fromText("note", text);
      out.kept = await counter.accept(text);
      out.seen = (await shopJs.seenNonces("kiosk18")).has(hex(note.nonce));
      out.tally = (await wallet.purseTally("kiosk18", note)).notes.size;
      out.again = await counter.accept(text);
      // Another note with its nonce (another purse, not revoked): a replay, kept too.
      out.sameNonce = await counter.acceptKept(await counter.note(5000, { nonce: note.nonce }));
      // The payer's phone revoked (not the purse): kept too.
      out.phone = await counter.acceptKept(await fork.note(phoneRevoked, 3000));
      // With the payer's clock off too: the list is checked first, kept as revoked (the time set aside).
      out.stale = await counter.acceptKept(await counter.note(1300, { purseId: stale, skewS: 900 }));
      // A bad device signature is checked before the list: refused for it, nothing kept.
      out.badSignature = await counter.acceptKept(await counter.note(4200, { purseId: badSig, signer: "not-the-payer-18" }));
      // For a card of the shop that is neither mine nor retired: refused as revoked, nothing kept.
      out.otherCard = await counter.acceptKept(await counter.note(1100, { purseId: otherCard, forCard: await counter.otherCard("Kiosk 18 by the door") }));
    } finally {
      await revoke([]);
    }
    // The list emptied (the phone synced meanwhile): the kept note stays in its purse's tally, so
    // another note 1 of the purse, a fork, is refused and not kept; the next note, chained on it, is taken.
    out.fork = await counter.acceptKept(await fork.note(purse, 5000));
    out.next = await counter.accept(await fork.note(purse, 2000, { seq: 2, after: text }));
    try {
      // For this shop's retired card and revoked: kept as revoked (the payer must pay another way).
      await revoke([retired]);
      const first = counter.card;
      await shopJs.makeCard(counter.app, "Kiosk 18 new");
      out.retired = await counter.acceptKept(await counter.note(1400, { purseId: retired, forCard: first }));
    } finally {
      await revoke([]);
    }
    out.refusals = (await counter.refusals()).map((k) => [k.amount, k.reason, k.state, k.seq]).sort((a, b) => a[0] - b[0] || a[1].localeCompare(b[1]));
    out.received = (await counter.received()).map((n) => [n.seq, n.amount]).sort((a, b) => a[1] - b[1]);
    return out;
  });
  assert.equal(r.overCap, `revoked: ${REASONS.revoked}`);
  assert.equal(r.keptAfterOverCap, 0, "a revoked note over the purse's limit per payment is not kept");
  assert.equal(r.kept, `revoked: ${KEPT_SENTENCES.revoked}`);
  assert.equal(r.seen, true, "the kept note's nonce counts as seen");
  assert.equal(r.tally, 1, "the kept note is in its purse's tally");
  assert.equal(r.again, `refused_here_before: ${REFUSED_HERE_BEFORE}`);
  assert.deepEqual(r.sameNonce, { code: "nonce_replayed", kept: true });
  assert.deepEqual(r.phone, { code: "revoked", kept: true });
  assert.deepEqual(r.stale, { code: "revoked", kept: true });
  assert.deepEqual(r.badSignature, { code: "bad_device_signature", kept: false });
  assert.deepEqual(r.otherCard, { code: "revoked", kept: false });
  assert.deepEqual(r.fork, { code: "inconsistent_with_earlier_note", kept: false });
  assert.equal(r.next, "accepted");
  assert.deepEqual(r.retired, { code: "revoked", kept: true });
  assert.deepEqual(r.refusals, [
    [1300, "revoked", "pending", 1], [1400, "revoked", "pending", 1], [3000, "revoked", "pending", 1], [5000, "nonce_replayed", "pending", 1],
    [5000, "revoked", "pending", 1],
  ]);
  assert.deepEqual(r.received, [[2, 2000]], "nothing of a revoked purse taken while it was on the list, nor the fork after");
});

test("a note whose nonce a note taken here has is refused and not kept, though refused first for an unknown issuer key (and then as that), a revoked purse or a retired card (before the nonce check)", async () => {
  // Each of these refusals comes before the nonce check (16.3: the issuer's step 1, the
  // revocation list, the card's step 11a); the check that would keep the note runs the nonce
  // check too, so the same payment shown twice is never kept to be given back.
  await openCounter("kiosk20", 5020);
  const r = await tab.page.evaluate(async () => {
    const shopJs = await import("/js/offline/shop.js");
    const { fromText } = await import("/js/protocol/objects.js");
    const { hex } = await import("/js/protocol/crypto.js");
    const { put } = await import("/js/offline/db.js");
    const revoke = (purses) => put("issuers", { keyId: "revocations", purses: purses.map(hex), devices: [] });
    const taken = await counter.note(1000);
    const out = { taken: await counter.accept(taken) };
    const { nonce } = fromText("note", taken);
    // (a) The taken note's nonce on a note whose purse's issuer key this device does not know.
    out.unknownKey = await counter.acceptKept(await counter.note(1000, { nonce, unknownIssuer: "rotated-20" }));
    out.unknownKeyStale = await counter.acceptKept(await counter.note(1000, { nonce, unknownIssuer: "rotated-20", skewS: 900 }));
    // (b) The same on a note of a purse on the cached revocation list.
    const revokedPurse = crypto.getRandomValues(new Uint8Array(16));
    try {
      await revoke([revokedPurse]);
      out.revoked = await counter.acceptKept(await counter.note(1000, { nonce, purseId: revokedPurse }));
    } finally {
      await revoke([]);
    }
    // The card the note was taken for retired: the same nonce is for this shop's retired card now.
    await shopJs.makeCard(counter.app, "Kiosk 20 new");
    out.retired = await counter.acceptKept(await counter.note(1000, { nonce }));
    out.seen = (await shopJs.seenNonces("kiosk20")).has(hex(nonce));
    out.kept = (await counter.refusals()).length;
    out.received = (await counter.received()).map((n) => n.amount);
    return out;
  });
  assert.equal(r.taken, "accepted");
  assert.equal(r.seen, true);
  // With its certificate unchecked, the nonce says nothing (anyone can copy one): refused for the key.
  assert.deepEqual(r.unknownKey, { code: "unknown_issuer_key", kept: false });
  assert.deepEqual(r.unknownKeyStale, { code: "unknown_issuer_key", kept: false });
  assert.deepEqual(r.revoked, { code: "revoked", kept: false }, "a revoked note failing another check stays refused as revoked");
  assert.deepEqual(r.retired, { code: "nonce_replayed", kept: false });
  assert.equal(r.kept, 0, "nothing kept to be given back");
  assert.deepEqual(r.received, [1000]);
});

test("a note kept for an unknown issuer key joins its purse's tally once the counter knows the key: its fork is refused, also by the storing transactions, the payer's next note is taken; a certificate the key does not verify stays out", async () => {
  // The attack: the payer forks a purse issued with a key this counter does not know yet. Branch
  // A's note 1 is kept (unknown_issuer_key) to be given back; the counter syncs and learns the
  // key; branch B's note 1 would then pass every check. Were it taken, the shop would give A back
  // and hold B, paid from the purse's reserve or the operator's fraud loss.
  await openCounter("kiosk21", 5021);
  const r = await tab.page.evaluate(async () => {
    const shopJs = await import("/js/offline/shop.js");
    const wallet = await import("/js/offline/wallet.js");
    const { cardNonce } = await import("/js/protocol/accept.js");
    const { fromText, hashOf, signObject } = await import("/js/protocol/objects.js");
    const { hex, keyId } = await import("/js/protocol/crypto.js");
    const { put, remove } = await import("/js/offline/db.js");
    const { deviceKey, sign } = await import("/js/offline/device.js");
    const name = "rotated-21";
    const nonce = () => cardNonce(counter.card, crypto.getRandomValues(new Uint8Array(12)));
    const now = BigInt(Math.floor(Date.now() / 1000));
    const note = async (purse, amount, { seq = 1, after, skewS = 0 } = {}) => {
      const earlier = after ? fromText("note", after) : null;
      return kit.note(purse, {
        seq, amount, payee: 5021, nonce: await nonce(), time: now - BigInt(skewS),
        prevHash: earlier ? await hashOf(earlier) : purse.certHash, cumulative: (earlier?.cumulative ?? 0) + amount,
      });
    };
    const newPurse = (payer) => kit.purse({ payer, account: 1001, amount: 50000, cap: 20000, unknownIssuer: name });
    const tallySize = async (text) => (await wallet.purseTally("kiosk21", fromText("note", text))).notes.size;
    const signer = await deviceKey(`kit-unknown-issuer/${name}`);
    const kid = await keyId(signer.publicKey);
    // A certificate naming the new key but signed by another (forged), with a genuine purse's id:
    // kept while the key is unknown, its issuer's signature fails once the key is known.
    const genuine = await kit.purse({ payer: "payer-21-e", account: 1001, amount: 50000, cap: 20000 });
    const forger = await deviceKey("forger-21");
    const payerKey = await deviceKey("payer-21-forged");
    const forgedCert = await signObject("certificate", {
      purseId: genuine.cert.purseId, issuerKeyId: kid, account: 1001n, deviceKey: payerKey.publicKey, currency: "INR",
      amount: 50000, perPaymentCap: 20000, validFrom: now - 3600n, validUntil: now + 86400n,
    }, (b) => sign(forger, b));
    const forged = { cert: forgedCert, payerKey, certHash: await hashOf(forgedCert) };

    // While the key is unknown: each purse's note 1 is kept, and in no tally.
    const [p1, p2, p3, p4] = [await newPurse("payer-21-a"), await newPurse("payer-21-b"), await newPurse("payer-21-c"), await newPurse("payer-21-d")];
    const a = await note(p1, 10000);
    const out = { a: await counter.acceptKept(a) };
    const a2 = await note(p2, 6000);
    const a3 = await note(p3, 7000);
    await counter.accept(a2);
    await counter.accept(a3);
    // Two notes 1 of one purse (a fork shown while the key is unknown): both kept.
    const d1 = await note(p4, 3000);
    const d2 = await note(p4, 3500);
    out.d = [await counter.acceptKept(d1), await counter.acceptKept(d2)];
    const f1 = await note(forged, 5000);
    out.forged = await counter.acceptKept(f1);
    out.tallyUnknown = await tallySize(a);

    // The counter learns the key, as a sync caches it.
    await put("issuers", { keyId: hex(kid), publicKey: signer.publicKey, notBefore: Number(now) - 86400, notAfter: Number(now) + 86400 });
    try {
      out.tallyKnown = await tallySize(a);
      out.tallyTwoForks = await tallySize(d1);
      out.tallyForged = await tallySize(f1);
      // (c) The fork of A: another note 1 of the purse, right time, new nonce.
      out.fork = await counter.acceptKept(await note(p1, 10000));
      // The payer's next note, chained on the kept note A: taken.
      out.next = await counter.accept(await note(p1, 5000, { seq: 2, after: a }));
      // The storing transactions look at the kept note too (given a tally without it, read
      // before the key was known): a fork to take, and a fork with the payer's clock off to keep.
      const b2 = await note(p2, 6000);
      const b2Note = fromText("note", b2);
      out.forkStored = await shopJs.acceptCard(counter.app, b2Note, b2, wallet.tallyOf(b2Note, []))
        .then(() => "accepted", (e) => ({ code: e.code, kept: e.kept === true }));
      const b3 = await note(p3, 7000, { skewS: 900 });
      const b3Note = fromText("note", b3);
      out.forkKept = await shopJs.acceptCard(counter.app, b3Note, b3, wallet.tallyOf(b3Note, []))
        .then(() => "accepted", (e) => ({ code: e.code, kept: e.kept === true }));
      // The forged certificate still does not verify: it stays out of the genuine purse's tally,
      // whose note 1 is taken.
      out.genuine = await counter.accept(await note(genuine, 4500));
    } finally {
      await remove("issuers", hex(kid));
    }
    out.refusals = (await counter.refusals()).map((k) => [k.amount, k.reason]).sort((x, y) => x[0] - y[0]);
    out.received = (await counter.received()).map((n) => [n.seq, n.amount]).sort((x, y) => x[1] - y[1]);
    return out;
  });
  assert.deepEqual(r.a, { code: "unknown_issuer_key", kept: true });
  assert.deepEqual(r.d, [{ code: "unknown_issuer_key", kept: true }, { code: "unknown_issuer_key", kept: true }]);
  assert.deepEqual(r.forged, { code: "unknown_issuer_key", kept: true });
  assert.equal(r.tallyUnknown, 0, "while the key is unknown the kept note is in no tally");
  assert.equal(r.tallyKnown, 1, "once the key is known the kept note is in its purse's tally");
  assert.equal(r.tallyTwoForks, 1, "of two kept notes with one sequence number, only the first fits");
  assert.equal(r.tallyForged, 0, "a certificate the known key does not verify stays out");
  assert.deepEqual(r.fork, { code: "inconsistent_with_earlier_note", kept: false });
  assert.equal(r.next, "accepted");
  assert.deepEqual(r.forkStored, { code: "inconsistent_with_earlier_note", kept: false });
  assert.deepEqual(r.forkKept, { code: "inconsistent_with_earlier_note", kept: false });
  assert.equal(r.genuine, "accepted");
  assert.deepEqual(r.refusals, [[3000, "unknown_issuer_key"], [3500, "unknown_issuer_key"], [5000, "unknown_issuer_key"],
    [6000, "unknown_issuer_key"], [7000, "unknown_issuer_key"], [10000, "unknown_issuer_key"]]);
  assert.deepEqual(r.received, [[1, 4500], [2, 5000]], "no fork taken; the payer's next note and the genuine purse's note are");
});

test("a note drawn on the shop's own account is never kept: refused with its first reason (an unknown issuer key, a clock, a retired card, a revoked purse)", async () => {
  // The note pays the shop from itself: there is nothing to give back (the server answers
  // not_payee), and a note whose certificate is unchecked may be forged.
  await openCounter("kiosk22", 5022);
  const r = await tab.page.evaluate(async () => {
    const shopJs = await import("/js/offline/shop.js");
    const { hex } = await import("/js/protocol/crypto.js");
    const { put } = await import("/js/offline/db.js");
    const { cardNonce } = await import("/js/protocol/accept.js");
    const own = (amount, { unknownIssuer, skewS = 0, purseId, forCard = counter.card } = {}) => kit.purse({
      payer: "kiosk22-other-phone", account: 5022, amount: 50000, cap: 20000, unknownIssuer, purseId,
    }).then(async (purse) => kit.note(purse, {
      amount, payee: 5022, nonce: await cardNonce(forCard, crypto.getRandomValues(new Uint8Array(12))), time: BigInt(Math.floor(Date.now() / 1000) - skewS),
    }));
    const out = {};
    out.unknownKey = await counter.acceptKept(await own(1000, { unknownIssuer: "rotated-22" }));
    out.stale = await counter.acceptKept(await own(1100, { skewS: 900 }));
    const revoked = crypto.getRandomValues(new Uint8Array(16));
    try {
      await put("issuers", { keyId: "revocations", purses: [hex(revoked)], devices: [] });
      out.revoked = await counter.acceptKept(await own(1200, { purseId: revoked }));
    } finally {
      await put("issuers", { keyId: "revocations", purses: [], devices: [] });
    }
    const first = counter.card;
    await shopJs.makeCard(counter.app, "Kiosk 22 new");
    out.retired = await counter.acceptKept(await own(1300, { forCard: first }));
    // The same notes from a customer's purse are kept (the rule is the account, nothing else).
    out.customer = await counter.acceptKept(await counter.note(1400, { unknownIssuer: "rotated-22" }));
    out.refusals = (await counter.refusals()).map((k) => [k.amount, k.reason]);
    out.received = (await counter.received()).length;
    return out;
  });
  assert.deepEqual(r.unknownKey, { code: "unknown_issuer_key", kept: false });
  assert.deepEqual(r.stale, { code: "stale_note", kept: false });
  assert.deepEqual(r.revoked, { code: "revoked", kept: false });
  assert.deepEqual(r.retired, { code: "wrong_card", kept: false });
  assert.deepEqual(r.customer, { code: "unknown_issuer_key", kept: true });
  assert.deepEqual(r.refusals, [[1400, "unknown_issuer_key"]], "nothing of the shop's own account kept");
  assert.equal(r.received, 0);
});

test("no page errors", () => {
  assert.deepEqual(tab.errors, []);
});
