// In Chromium, with the app's files from disk and no server (page-kit.js; `fetch` answered by the
// test): a close whose answer never came leaves the purse "closing" (it pays nothing more), and
// the next sync finishes it with the same statement and idempotency key, as `offpay wallet sync`
// does; the background sync runs for it alone; a purse already closed is not sent again.
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

test("sync finishes a close whose answer never came, with the same statement and key", async () => {
  const r = await tab.page.evaluate(async () => {
    const { closePurses } = await import("/js/offline/close.js");
    const { syncNow, autoSync } = await import("/js/offline/sync.js");
    const { get } = await import("/js/offline/db.js");
    const { hex } = await import("/js/protocol/crypto.js");
    const purse = await kit.purse({ payer: "rafi", account: 4004, amount: 30000 });
    await kit.storePurse("rafi", purse);
    const purseId = hex(purse.cert.purseId);
    const closes = [];
    let answer = "none";
    const realFetch = window.fetch;
    window.fetch = async (url, opts) => {
      const path = new URL(String(url), location.href).pathname;
      if (path.endsWith("/close")) {
        closes.push({ key: opts.headers["Idempotency-Key"], close: JSON.parse(opts.body).close });
        if (answer === "none") throw new TypeError("Failed to fetch");
        return new Response(JSON.stringify({ returned: 30000, held: 0, balance: 30000, fraud: false }), { status: 200, headers: { "content-type": "application/json" } });
      }
      if (path === "/v1/purses") return new Response(JSON.stringify({ purses: [] }), { status: 200, headers: { "content-type": "application/json" } });
      return new Response(JSON.stringify({ error: { code: "busy", message: "busy" } }), { status: 503, headers: { "content-type": "application/json" } });
    };
    let refreshed = 0;
    const app = { ...kit.app("rafi", 4004), session: { handle: "rafi", token: "tok" }, refreshMe: async () => { refreshed += 1; }, handleError() {} };
    try {
      const lost = await closePurses(app).then(() => "closed", (e) => e.message);
      const afterLost = (await get("purses", purseId)).status;
      answer = "ok";
      await autoSync({ ...app, online: true });
      const afterSync = (await get("purses", purseId)).status;
      const sentBefore = closes.length;
      await syncNow(app);
      return { lost: lost !== "closed", afterLost, afterSync, closes, sentAgain: closes.length - sentBefore, refreshed };
    } finally {
      window.fetch = realFetch;
    }
  });
  assert.ok(r.lost, "the first close had no answer");
  assert.equal(r.afterLost, "closing");
  assert.equal(r.afterSync, "closed");
  assert.ok(r.closes.length >= 2, JSON.stringify(r.closes));
  assert.ok(r.closes.every((c) => c.key === r.closes[0].key && c.close === r.closes[0].close), "same key and statement");
  assert.equal(r.sentAgain, 0, "a closed purse is not sent again");
  assert.ok(r.refreshed >= 1);
});
