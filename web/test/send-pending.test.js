// In Chromium, with the app's files from disk and no server (serveApp, page-kit.js; `fetch` to
// /v1/ is answered by the test): a send whose answer was lost (its intent still pending,
// ../public/js/intents.js) blocks every new payment to the same payee, also when the page that
// starts it was drawn before that send began (a second tab): Send's Confirm, an online shop card
// payment and an offline payment of a request from the same person. The check and the new intent
// are one IndexedDB transaction. Also: a 2xx answer whose body cannot be read is an unknown
// outcome (the send stays unfinished, never "not sent"), and a send that ends the session (401)
// leaves no unhandled error behind.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { openKitPage } from "./page-kit.js";

let tab;
before(async () => {
  tab = await openKitPage();
  // In the page: `until(fn)` waits for a condition; `answerTransfers(status, body)` answers every
  // POST /v1/transfers with `status` and `body` (text) and counts them in `transfers`.
  await tab.page.evaluate(() => {
    window.until = async (fn, ms = 15_000) => {
      const end = Date.now() + ms;
      for (;;) {
        const v = await fn();
        if (v) return v;
        if (Date.now() > end) throw new Error(`timed out waiting for ${fn}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    window.transfers = [];
    window.rejections = [];
    addEventListener("unhandledrejection", (e) => rejections.push(String(e.reason)));
    const realFetch = window.fetch;
    window.answerTransfers = (status, body) => {
      window.fetch = async (url, opts) => {
        if (!String(url).includes("/v1/transfers")) return realFetch(url, opts);
        transfers.push(JSON.parse(opts.body));
        return new Response(body, { status, headers: { "content-type": "application/json" } });
      };
    };
    /** An online app for `handle` whose results and ended sessions are recorded. */
    window.onlineApp = (handle, account) => {
      const app = {
        ...kit.app(handle, account), online: true, session: { handle, token: `token-${handle}` }, results: [],
        showResult(r) { app.results.push(r); },
        handleError(e) { if (e?.status === 401) app.session = null; },
      };
      return app;
    };
    /** Fills and submits Send's first form in `section` (to, amount); resolves on the confirm step. */
    window.fillSend = async (section, to, amount) => {
      section.querySelector('input[name="to"]').value = to;
      section.querySelector('input[name="amount"]').value = amount;
      section.querySelector("form").requestSubmit();
      return until(() => [...section.querySelectorAll("button")].find((b) => b.textContent === "Confirm"));
    };
  });
});
after(async () => {
  await tab?.close();
});

test("Send: a form drawn before another tab's send lost its answer does not send again", async () => {
  const r = await tab.page.evaluate(async () => {
    const send = await import("/js/pages/send.js");
    const { beginIntent, pendingIntents } = await import("/js/intents.js");
    answerTransfers(500, JSON.stringify({ error: { code: "internal", message: "boom" } }));
    transfers.length = 0;
    const app = onlineApp("tara", 5001);
    const section = await send.render(app);
    document.body.replaceChildren(section);
    const yes = await fillSend(section, "uma", "30.00");
    // Another tab sends to uma meanwhile, and its answer is lost.
    const first = await beginIntent("tara", "send", { to: "uma", amount: 3000, memo: null });
    yes.click();
    await until(() => section.querySelector('[data-testid="unfinished-send"]') || app.results.length);
    const pending = await pendingIntents("tara", "send");
    return {
      transfers: transfers.length, pending: pending.map((i) => i.key === first.key), results: app.results,
      unfinished: section.querySelector('[data-testid="unfinished-send"]')?.textContent ?? null,
    };
  });
  assert.equal(r.transfers, 0, "nothing sent");
  assert.deepEqual(r.pending, [true], "one intent, the first");
  assert.deepEqual(r.results, []);
  assert.match(r.unfinished, /Sending ₹30\.00 to uma did not get an answer from the server\. It may have been sent\./);
});

test("an online shop card payment is refused while a send to the shop has no answer, also when started after the form was drawn", async () => {
  const r = await tab.page.evaluate(async () => {
    const shopJs = await import("/js/offline/shop.js");
    const { cardForm } = await import("/js/pages/pay-card.js");
    const { beginIntent, finishIntent, pendingIntents } = await import("/js/intents.js");
    answerTransfers(500, JSON.stringify({ error: { code: "internal", message: "boom" } }));
    transfers.length = 0;
    const { text: card } = await shopJs.makeCard(kit.app("kiosk", 2012), "Kiosk");
    const app = onlineApp("vani", 5002);
    const outcome = (p) => p.then(() => "shown", (e) => e.reason ?? e.message);
    // Already pending when the card is scanned: the card's form says so.
    const early = await beginIntent("vani", "send", { to: "kiosk", amount: 500, memo: null });
    const refusedForm = await outcome(cardForm(app, document.createElement("section"), card));
    await finishIntent(early);
    // Started (in another tab) after the form was drawn: Confirm refuses, nothing is sent.
    const section = document.createElement("section");
    const node = await cardForm(app, section, card);
    section.append(node);
    document.body.replaceChildren(section);
    const later = await beginIntent("vani", "send", { to: "kiosk", amount: 700, memo: null, toAccount: 2012 });
    node.querySelector('input[name="amount"]').value = "12.00";
    [...node.querySelectorAll("button")].find((b) => b.textContent === "Confirm").click();
    const said = await until(() => [...node.querySelectorAll(".error")].map((e) => e.textContent).join(" ").trim() || app.results.length);
    const pending = await pendingIntents("vani", "send");
    await finishIntent(later);
    return { refusedForm, said, transfers: transfers.length, pending: pending.map((i) => i.key === later.key), results: app.results };
  });
  assert.equal(r.refusedForm, "A payment to kiosk has no answer yet: open Send to finish it.");
  assert.equal(r.said, "A payment to kiosk has no answer yet: open Send to finish it.");
  assert.equal(r.transfers, 0, "nothing sent");
  assert.deepEqual(r.pending, [true], "no second intent");
  assert.deepEqual(r.results, []);
});

test("a request is not paid from the offline purse while a send to its payee has no answer", async () => {
  const r = await tab.page.evaluate(async () => {
    const wallet = await import("/js/offline/wallet.js");
    const { beginIntent, finishIntent } = await import("/js/intents.js");
    const { allFor } = await import("/js/offline/db.js");
    const { setPin } = await import("/js/offline/pin.js");
    const payPage = await import("/js/pages/pay.js");
    const { text } = await wallet.createRequest(kit.app("bob", 3003), 4000);
    const purse = await kit.purse({ payer: "wren", account: 1003, amount: 50000, cap: 20000 });
    await kit.storePurse("wren", purse);
    await setPin("wren", "246810");
    const outcome = (p) => p.then(() => "paid", (e) => `${e.code}: ${e.reason ?? e.message}`);
    const byHandle = await beginIntent("wren", "send", { to: "bob", amount: 1000, memo: null });
    const req = await wallet.readRequest(text);
    const direct = await outcome(wallet.pay("wren", req));
    // The Pay form says so on the field, before the PIN is asked.
    const app = { ...kit.app("wren", 1003), results: [], showResult(x) { app.results.push(x); }, handleError() {} };
    const section = await payPage.render(app);
    document.body.replaceChildren(section);
    section.querySelector("textarea").value = text;
    section.querySelector("form").requestSubmit();
    const onField = await until(() => section.querySelector(".error")?.textContent
      || app.results.length || section.querySelector('[aria-label="Confirm payment"], [data-testid="already-paid"]'))
      && section.querySelector(".error")?.textContent;
    const confirmShown = Boolean(section.querySelector('[aria-label="Confirm payment"]'));
    await finishIntent(byHandle);
    // The payee's account named by a shop card's send counts too.
    const byAccount = await beginIntent("wren", "send", { to: "bobshop", amount: 1000, memo: null, toAccount: 3003 });
    const direct2 = await outcome(wallet.pay("wren", req));
    await finishIntent(byAccount);
    const stored = (await allFor("sent", "wren")).length;
    const after = await outcome(wallet.pay("wren", req));
    return { direct, onField, confirmShown, results: app.results, direct2, stored, after };
  });
  const sentence = "Your online payment to bob did not get an answer from the server, so it may have been paid. "
    + "Check and finish it on Send when you are back online, before paying bob again: paying from your offline purse now could pay twice.";
  assert.equal(r.direct, `sent_online: ${sentence}`);
  assert.equal(r.onField, sentence);
  assert.equal(r.confirmShown, false);
  assert.deepEqual(r.results, []);
  assert.equal(r.direct2, `sent_online: ${sentence}`);
  assert.equal(r.stored, 0, "nothing signed or stored");
  assert.equal(r.after, "paid", "paid once the online payment's outcome is known");
});

test("a 2xx answer whose body cannot be read leaves the send unfinished (it may have been sent), never 'not sent'", async () => {
  const r = await tab.page.evaluate(async () => {
    const send = await import("/js/pages/send.js");
    const { pendingIntents, finishIntent } = await import("/js/intents.js");
    answerTransfers(201, "<html>proxy page</html>");
    transfers.length = 0;
    const app = onlineApp("xena", 5003);
    const section = await send.render(app);
    document.body.replaceChildren(section);
    const yes = await fillSend(section, "yuri", "20.00");
    yes.click();
    await until(() => section.querySelector('[data-testid="unfinished-send"]') || app.results.length);
    const pending = await pendingIntents("xena", "send");
    for (const i of pending) await finishIntent(i);
    return {
      transfers: transfers.length, pending: pending.length, results: app.results,
      unfinished: section.querySelector('[data-testid="unfinished-send"]')?.textContent ?? null,
    };
  });
  assert.equal(r.transfers, 1);
  assert.deepEqual(r.results, [], "no result screen: the outcome is unknown");
  assert.equal(r.pending, 1, "the intent stays, to be finished with the same key");
  assert.match(r.unfinished, /Sending ₹20\.00 to yuri did not get an answer from the server\. It may have been sent\./);
  assert.match(r.unfinished, /The server's answer could not be read\./);
});

test("a send (and an online card payment) that ends the session leaves no unhandled error", async () => {
  const r = await tab.page.evaluate(async () => {
    const send = await import("/js/pages/send.js");
    const shopJs = await import("/js/offline/shop.js");
    const { cardForm } = await import("/js/pages/pay-card.js");
    const { all, remove } = await import("/js/offline/db.js");
    answerTransfers(401, JSON.stringify({ error: { code: "unauthorized", message: "session ended" } }));
    transfers.length = 0;
    rejections.length = 0;
    const app = onlineApp("zara", 5004);
    const section = await send.render(app);
    document.body.replaceChildren(section);
    const yes = await fillSend(section, "yuri", "20.00");
    yes.click();
    await until(() => transfers.length === 1 && app.session === null);
    const { text: card } = await shopJs.makeCard(kit.app("stall", 2014), "Stall");
    const app2 = onlineApp("zoya", 5005);
    const node = await cardForm(app2, document.createElement("section"), card);
    document.body.replaceChildren(node);
    node.querySelector('input[name="amount"]').value = "3.00";
    [...node.querySelectorAll("button")].find((b) => b.textContent === "Confirm").click();
    await until(() => transfers.length === 2 && app2.session === null);
    // Give the pages' catch blocks their turn before looking for unhandled errors.
    await new Promise((res) => setTimeout(res, 500));
    for (const i of await all("intents")) await remove("intents", i.key);
    return { rejections, results: [...app.results, ...app2.results] };
  });
  assert.deepEqual(r.rejections, []);
  assert.deepEqual(r.results, []);
});

test("no page errors", () => {
  assert.deepEqual(tab.errors, []);
});
