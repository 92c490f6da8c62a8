// End-to-end in Chromium against the real `offpay serve`: the server's answer is lost after it
// did the work (the request reaches the server, which moves the money; the phone sees the
// connection drop), then the person retries: after a reload (send, purse load) or with "Try
// again" (purse close, which also checks that the "Offline" indicator the lost answer turned on
// clears once the server answers again), or from Send (a shop card payment, whose finishing names
// the card's account again). Send, purse load and purse close each move money once:
// the retry reuses the intent's idempotency key (js/intents.js, js/offline/close.js) and the
// server answers with the first outcome.
//
// The lost answer is real: Playwright forwards the request to the server (route.fetch), waits
// for the server's full answer, and then drops the connection to the page instead of passing it
// on. (The service worker never handles /v1/ requests, so they reach the page's route.)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServerAndBrowser, stopServerAndBrowser, depositAndReload, openLoadPurse, phone, register, rupees, shot, textOf, waitText } from "../harness.js";

let srv;
let browser;
before(async () => { ({ srv, browser } = await startServerAndBrowser()); });
after(() => stopServerAndBrowser({ srv, browser }));

/**
 * The next `method` request to a URL matching `pattern` reaches the server, and its answer is
 * dropped. Resolves once the route is in place to `{ status }`, a promise of the HTTP status the
 * server answered (wrapped, so that awaiting the route does not wait for the request).
 */
async function loseNextAnswer(page, pattern, method = "POST") {
  let resolveStatus;
  const status = new Promise((r) => { resolveStatus = r; });
  let used = false;
  const handler = async (route) => {
    if (used || route.request().method() !== method) return route.fallback();
    used = true;
    const answer = await route.fetch();
    resolveStatus(answer.status());
    await route.abort("connectionreset");
    await page.unroute(pattern, handler);
  };
  await page.route(pattern, handler);
  return { status };
}

/** The balance the server holds for the page's logged-in user, in minor units (GET /v1/me). */
async function balanceOf(page) {
  return page.evaluate(async () => {
    const s = JSON.parse(localStorage.getItem("offpay.session"));
    const r = await fetch("/v1/me", { headers: { Authorization: `Bearer ${s.token}` } });
    return (await r.json()).balance;
  });
}

test("a send whose answer was lost is finished after a reload and pays once", async () => {
  const a = await phone(browser);
  const b = await phone(browser);
  await register(a.page, srv.url, "amal", "amal-secret-1");
  await register(b.page, srv.url, "bina", "bina-secret-1");
  await depositAndReload(a.page, srv, "amal", "100.00");

  await a.page.getByRole("link", { name: "Send" }).click();
  await a.page.getByLabel("To").fill("bina");
  await a.page.getByLabel("Amount").fill("30.00");
  await a.page.getByRole("button", { name: "Send" }).click();
  const answered = await loseNextAnswer(a.page, "**/v1/transfers");
  await a.page.getByRole("button", { name: "Confirm" }).click();
  assert.equal(await answered.status, 201, "the server made the transfer");
  // The phone saw no answer: it says so and offers only to finish this payment.
  await a.page.getByTestId("unfinished-send").waitFor();
  assert.match(await textOf(a.page, "unfinished-send"), /Sending ₹30\.00 to bina did not get an answer/);
  await shot(a.page, "send-unfinished");
  assert.equal(await a.page.getByRole("button", { name: "Send", exact: true }).count(), 0, "no new send while one is unfinished");

  // Reload: the intent survived; Send shows it instead of the form, and Home points to it.
  await a.page.reload();
  await a.page.getByTestId("unfinished-send").waitFor();
  assert.equal(await a.page.getByRole("button", { name: "Send", exact: true }).count(), 0);
  await a.page.getByRole("link", { name: "offpay home" }).click();
  await a.page.getByRole("heading", { name: "Home" }).waitFor();
  await a.page.getByTestId("unfinished-notice").waitFor();
  await a.page.getByRole("link", { name: "Check and finish it" }).click();
  await a.page.getByTestId("unfinished-send").waitFor();
  await a.page.getByRole("button", { name: "Check and finish" }).click();
  await a.page.getByRole("heading", { name: "Payment successful" }).waitFor();
  assert.match(await textOf(a.page, "result-summary"), /₹30\.00 sent to bina\. Your balance is now ₹70\.00\. It had already been sent/);

  // Once: 70.00 left, 30.00 received, and nothing unfinished any more.
  assert.equal(await balanceOf(a.page), 7_000);
  assert.equal(await balanceOf(b.page), 3_000);
  await a.page.getByRole("link", { name: "Done" }).click();
  await a.page.getByRole("heading", { name: "Home" }).waitFor();
  assert.equal(await a.page.getByTestId("unfinished-notice").count(), 0);
  await a.page.getByRole("link", { name: "Send" }).click();
  await a.page.getByLabel("To").waitFor();
  assert.equal(await a.page.getByTestId("unfinished-send").count(), 0);
  assert.deepEqual(a.errors.filter((e) => !/Failed to load resource|ERR_CONNECTION_RESET/.test(e)), []);
});

test("a shop card payment whose answer was lost is finished from Send with the card's account and the card named again, and pays once", async () => {
  const shop = await phone(browser);
  const cust = await phone(browser);
  await register(shop.page, srv.url, "kiosk", "kiosk-secret-1");
  await shop.page.getByRole("link", { name: "Shop card" }).click();
  await shop.page.getByLabel("Shop name").fill("Kiosk");
  await shop.page.getByRole("button", { name: "Make card" }).click();
  const cardText = await shop.page.getByRole("textbox", { name: "Shop card text", includeHidden: true }).inputValue();
  const kiosk = await shop.page.evaluate(async () => {
    const s = JSON.parse(localStorage.getItem("offpay.session"));
    return (await (await fetch("/v1/me", { headers: { Authorization: `Bearer ${s.token}` } })).json()).account;
  });
  await register(cust.page, srv.url, "cyra", "cyra-secret-1");
  await depositAndReload(cust.page, srv, "cyra", "50.00");

  await cust.page.getByRole("link", { name: "Pay", exact: true }).click();
  await cust.page.getByRole("textbox", { name: /^(Payment request|Shop card)$/ }).fill(cardText);
  await cust.page.getByRole("button", { name: "Pay", exact: true }).click();
  const group = cust.page.getByRole("group", { name: "Pay Kiosk" });
  await group.getByLabel("Amount").fill("12.00");
  const answered = await loseNextAnswer(cust.page, "**/v1/transfers");
  await group.getByRole("button", { name: "Confirm" }).click();
  assert.equal(await answered.status, 201, "the server made the transfer");
  await waitText(cust.page, "main", "open Send to check and finish it");

  // Finishing it from Send names the card's account again (a forged card stays refused) and the
  // card paid (the same request under its key: only that counter announces it).
  const prefix = await cust.page.evaluate(async (text) => {
    const { fromText } = await import("/js/protocol/objects.js");
    const { cardNoncePrefix } = await import("/js/protocol/accept.js");
    const { hex } = await import("/js/protocol/crypto.js");
    return hex(await cardNoncePrefix(fromText("card", text)));
  }, cardText);
  const bodies = [];
  await cust.page.route("**/v1/transfers", (route) => { bodies.push(route.request().postDataJSON()); return route.fallback(); });
  await cust.page.evaluate(() => { location.hash = "#/send"; });
  await cust.page.getByTestId("unfinished-send").waitFor();
  await cust.page.getByRole("button", { name: "Check and finish" }).click();
  await cust.page.getByRole("heading", { name: "Payment successful" }).waitFor();
  assert.deepEqual(bodies, [{ to: "kiosk", amount: 1_200, to_account: kiosk, card: prefix }]);
  assert.equal(await balanceOf(cust.page), 3_800, "paid once");
  assert.equal(await balanceOf(shop.page), 1_200);
  assert.deepEqual(cust.errors.filter((e) => !/Failed to load resource|ERR_CONNECTION_RESET/.test(e)), []);
});

test("a purse load whose answer was lost is finished after a reload and reserves once", async () => {
  const a = await phone(browser);
  await register(a.page, srv.url, "chitra", "chitra-secret-1");
  await depositAndReload(a.page, srv, "chitra", "500.00");

  await openLoadPurse(a.page);
  await a.page.getByLabel("Amount").fill("200.00");
  const answered = await loseNextAnswer(a.page, "**/v1/purses");
  await a.page.getByRole("button", { name: "Load offline purse" }).click();
  assert.equal(await answered.status, 201, "the server reserved the purse");
  await a.page.getByTestId("unfinished-load").waitFor();
  assert.equal(await balanceOf(a.page), 30_000, "200.00 is reserved on the server");

  await a.page.reload();
  await a.page.getByTestId("unfinished-load").waitFor();
  assert.match(await textOf(a.page, "unfinished-load"), /Loading ₹200\.00 did not get an answer/);
  await shot(a.page, "load-unfinished");
  await a.page.getByRole("button", { name: "Finish loading" }).click();
  await a.page.getByRole("heading", { name: "Purse loaded" }).waitFor();
  await a.page.getByRole("link", { name: "Done" }).click();
  await waitText(a.page, '[data-testid="offline-balance"]', rupees("200.00"));
  await waitText(a.page, '[data-testid="balance"]', rupees("300.00"));

  // The server holds one purse for this account, and it is the one on the phone.
  const { server, phoneIds } = await a.page.evaluate(async () => {
    const s = JSON.parse(localStorage.getItem("offpay.session"));
    const r = await fetch("/v1/purses", { headers: { Authorization: `Bearer ${s.token}` } });
    const db = await import("/js/offline/db.js");
    const mine = await db.allFor("purses", s.handle);
    return { server: (await r.json()).purses.map((p) => p.purse_id), phoneIds: mine.map((p) => p.purseId) };
  });
  assert.equal(server.length, 1, "one purse reserved, not two");
  assert.deepEqual(phoneIds, server);
  assert.equal(await balanceOf(a.page), 30_000);
});

test("a purse close whose answer was lost is finished by trying again and returns the money once; the Offline indicator clears when the server answers", async () => {
  const a = await phone(browser);
  await register(a.page, srv.url, "dev", "dev-secret-12");
  await depositAndReload(a.page, srv, "dev", "300.00");
  await openLoadPurse(a.page);
  await a.page.getByLabel("Amount").fill("120.00");
  await a.page.getByRole("button", { name: "Load offline purse" }).click();
  await a.page.getByRole("heading", { name: "Purse loaded" }).waitFor();
  await a.page.getByRole("link", { name: "Done" }).click();
  await waitText(a.page, '[data-testid="balance"]', rupees("180.00"));

  await a.page.getByRole("link", { name: "Load offline purse" }).click();
  await a.page.getByRole("link", { name: "Close offline purse" }).click();
  const answered = await loseNextAnswer(a.page, "**/v1/purses/*/close");
  await a.page.getByRole("button", { name: "Close purse" }).click();
  assert.equal(await answered.status, 200, "the server closed the purse");
  await a.page.getByRole("heading", { name: "Purse not closed" }).waitFor();
  assert.equal(await balanceOf(a.page), 30_000, "the server returned 120.00 once");
  // No answer: the header says Offline until the server answers again.
  await waitText(a.page, "#net-status", "Offline");

  // Try again (no reload: the signed close and its key are kept with the purse).
  await a.page.getByRole("link", { name: "Try again" }).click();
  await a.page.getByText("Closing was started on this device and not finished").waitFor();
  await a.page.getByRole("button", { name: "Close purse" }).click();
  await a.page.getByRole("heading", { name: "Purse closed" }).waitFor();
  assert.match(await textOf(a.page, "result-summary"), /₹120\.00 returned to your balance/);
  assert.equal(await balanceOf(a.page), 30_000, "returned once, not twice");
  await waitText(a.page, "#net-status", "Online");
  await a.page.getByRole("link", { name: "Done" }).click();
  await waitText(a.page, '[data-testid="offline-balance"]', "₹0.00");
});
