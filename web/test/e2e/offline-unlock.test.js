// End-to-end in Chromium against the real `offpay serve`: the wallet PIN (pages/pin.js,
// offline/pin.js) and the offline unlock (pages/unlock.js). A PIN is set before the first purse
// load; logged out with no connection, the phone opens its offline purse again with the PIN and no
// server; paying from the purse asks for the PIN, and a wrong one signs nothing; back online, the
// password logs in properly and the payment settles once (balances read from the API). Five wrong
// PINs turn the offline unlock off until a login with the password, and nothing is lost. An online
// send asks for the PIN too, and writes nothing with a wrong one.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startServerAndBrowser, stopServerAndBrowser, backOnline, depositAndReload, enterPin, loadPurse, logIn, phone, register, rupees,
  setPin, shot, textOf, waitText, TEST_PIN,
} from "../harness.js";

let srv;
let browser;
before(async () => { ({ srv, browser } = await startServerAndBrowser()); });
after(() => stopServerAndBrowser({ srv, browser }));

const WRONG_PIN = "864200";
const quiet = (errors) => errors.filter((e) => !/Failed to load resource|ERR_INTERNET_DISCONNECTED/.test(e));

/** The balance of `handle` (minor units) as the server's API says, logged in with its own session. */
async function apiBalance(handle, password) {
  const post = await fetch(`${srv.url}/v1/login`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ handle, password }),
  });
  assert.equal(post.status, 200, `login ${handle}`);
  const { token } = await post.json();
  const me = await (await fetch(`${srv.url}/v1/me`, { headers: { Authorization: `Bearer ${token}` } })).json();
  await fetch(`${srv.url}/v1/logout`, { method: "POST", headers: { Authorization: `Bearer ${token}` } });
  return me.balance;
}

/** How many records of `handle` the phone keeps in an IndexedDB store (offline/db.js). */
function stored(page, store, handle) {
  return page.evaluate(async ([s, h]) => (await (await import("/js/offline/db.js")).allFor(s, h)).length, [store, handle]);
}

/** With no connection, logs out through the warning; ends on the login page. */
async function logOutOffline(page) {
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("heading", { name: "Log out?" }).waitFor();
  assert.match(await textOf(page, "logout-warning"), /With no connection you can open your offline purse again with your wallet PIN/);
  await page.getByRole("button", { name: "Log out anyway" }).click();
  await page.getByRole("heading", { name: "Log in to offpay" }).waitFor();
}

/** On the login page, offline: the unlock card is offered; types `pin` and presses Unlock. */
async function unlockWith(page, pin) {
  const card = page.getByRole("group", { name: "Unlock offline purse" });
  await card.getByLabel("Wallet PIN").fill(pin);
  await card.getByRole("button", { name: "Unlock with PIN" }).click();
}

/** The error line a field names in aria-describedby, once the field is marked invalid. */
async function fieldError(page, label) {
  const input = page.getByLabel(label);
  await page.waitForFunction((el) => el.getAttribute("aria-invalid") === "true", await input.elementHandle());
  return input.evaluate((el) => document.getElementById(el.getAttribute("aria-describedby")).textContent);
}

test("PIN set before the first purse; logged out offline, the PIN opens the purse; paying asks for it; settles once online", async () => {
  const a = await phone(browser);
  const b = await phone(browser);
  await register(a.page, srv.url, "priya", "priya-secret-1");
  await register(b.page, srv.url, "ravi", "ravi-secret-12");
  await depositAndReload(a.page, srv, "priya", "1000.00");

  // The first purse on this phone asks for a PIN first: the two must match and be six digits.
  await a.page.getByRole("link", { name: "Load offline purse" }).click();
  await a.page.getByRole("heading", { name: "Set your wallet PIN" }).waitFor();
  const form = a.page.getByTestId("set-pin");
  for (const input of ["New PIN (6 digits)", "Repeat new PIN"]) {
    assert.deepEqual(await form.getByLabel(input).evaluate((el) => [el.type, el.inputMode, el.autocomplete]), ["password", "numeric", "off"]);
  }
  await form.getByLabel("New PIN (6 digits)").fill("111111");
  await form.getByLabel("Repeat new PIN").fill("111111");
  await form.getByRole("button", { name: "Set PIN" }).click();
  assert.match(await fieldError(a.page, "New PIN (6 digits)"), /too easy to guess/);
  await form.getByLabel("New PIN (6 digits)").fill(TEST_PIN);
  await form.getByLabel("Repeat new PIN").fill("246801");
  await form.getByRole("button", { name: "Set PIN" }).click();
  await waitText(a.page, '[data-testid="set-pin"] .error', "The two PINs differ.");
  await a.page.reload();
  await a.page.getByRole("heading", { name: "Set your wallet PIN" }).waitFor();
  await form.getByLabel("New PIN (6 digits)").fill(TEST_PIN);
  await form.getByLabel("Repeat new PIN").fill(TEST_PIN);
  await shot(a.page, "pin-set");
  await form.getByRole("button", { name: "Set PIN" }).click();
  await a.page.getByLabel("Amount").waitFor();
  await a.page.getByRole("link", { name: "offpay home" }).click();
  await loadPurse(a.page, "500.00", { balanceAfter: "₹500.00" });

  // Both phones lose the connection; Priya logs out (warned: the PIN opens the purse again).
  await a.context.setOffline(true);
  await b.context.setOffline(true);
  await a.page.getByRole("heading", { name: "Offline" }).waitFor();
  await b.page.getByRole("heading", { name: "Offline" }).waitFor();
  await logOutOffline(a.page);
  assert.equal(await a.page.evaluate(() => localStorage.getItem("offpay.session")), null, "no server token is kept");

  // The login page offers the offline unlock, focused; a wrong PIN says how many tries are left.
  const card = a.page.getByRole("group", { name: "Unlock offline purse" });
  await card.waitFor();
  assert.match(await card.textContent(), /Open the offline purse of priya on this phone with your wallet PIN/);
  await a.page.waitForFunction(() => document.activeElement?.textContent === "Unlock offline purse");
  await card.getByRole("button", { name: "Unlock with PIN" }).scrollIntoViewIfNeeded();
  await shot(a.page, "offline-unlock");
  await unlockWith(a.page, WRONG_PIN);
  assert.equal(await fieldError(a.page, "Wallet PIN"), "Wrong PIN. 4 tries left before you must log in online.");
  await unlockWith(a.page, TEST_PIN);
  await a.page.getByRole("heading", { name: "Offline" }).waitFor();
  await waitText(a.page, '[data-testid="offline-balance"]', "₹500.00");
  await waitText(a.page, "#who", "priya (offline)");
  await shot(a.page, "offline-unlocked");

  // What needs the server says so.
  await a.page.evaluate(() => { location.hash = "#/send"; });
  await a.page.getByRole("heading", { name: "Log in online for this" }).waitFor();
  await shot(a.page, "needs-login");
  await a.page.getByRole("link", { name: "Back to offline wallet" }).click();
  await a.page.getByRole("heading", { name: "Offline" }).waitFor();

  // Ravi asks for 120.00; Priya pays it from the purse.
  await b.page.getByRole("link", { name: "Receive", exact: true }).click();
  await b.page.getByLabel("Amount").fill("120.00");
  await b.page.getByRole("button", { name: "Request payment" }).click();
  await b.page.getByRole("heading", { name: "Payment request" }).waitFor();
  const requestText = await b.page.getByRole("textbox", { name: "Payment request" }).inputValue();
  await a.page.getByRole("link", { name: "Pay", exact: true }).click();
  await a.page.getByRole("textbox", { name: "Payment request" }).fill(requestText);
  await a.page.getByRole("button", { name: "Pay", exact: true }).click();
  const confirm = a.page.getByRole("group", { name: "Confirm payment" });
  await confirm.waitFor();
  // The PIN field has the focus: digits keypad, not remembered.
  await a.page.waitForFunction(() => document.activeElement?.name === "pin");
  assert.deepEqual(await confirm.getByLabel("Wallet PIN").evaluate((el) => [el.type, el.inputMode, el.autocomplete]), ["password", "numeric", "off"]);
  // A wrong PIN: refused, and nothing is signed or stored.
  await enterPin(a.page, WRONG_PIN);
  await confirm.getByRole("button", { name: "Confirm" }).click();
  assert.equal(await fieldError(a.page, "Wallet PIN"), "Wrong PIN. 4 tries left before you must log in online.");
  assert.equal(await stored(a.page, "sent", "priya"), 0, "a wrong PIN signs nothing");
  await shot(a.page, "pay-pin");
  await enterPin(a.page);
  await confirm.getByRole("button", { name: "Confirm" }).click();
  await a.page.getByRole("heading", { name: "Payment note ready" }).waitFor();
  const noteText = await a.page.getByRole("textbox", { name: "Payment note" }).inputValue();
  assert.equal(await stored(a.page, "sent", "priya"), 1);

  // Ravi accepts it with no server.
  await b.page.getByRole("link", { name: "Accept" }).click();
  await b.page.getByRole("textbox", { name: "Payment note" }).fill(noteText);
  await b.page.getByRole("button", { name: "Accept" }).click();
  await b.page.getByRole("heading", { name: "Payment successful" }).waitFor();

  // Back online: Priya's phone asks for the password; once logged in, both settle, once.
  await a.page.getByRole("link", { name: "Done" }).click();
  await a.page.getByRole("heading", { name: "Offline" }).waitFor();
  await a.context.setOffline(false);
  const back = a.page.getByRole("group", { name: "Back online" });
  await back.waitFor();
  assert.match(await back.textContent(), /You are back online\. Log in with your password to settle your offline payments\./);
  await back.getByRole("button", { name: "Log in with password" }).click();
  await a.page.getByRole("heading", { name: "Log in to offpay" }).waitFor();
  assert.equal(await a.page.getByLabel("Username").inputValue(), "priya");
  assert.equal(await a.page.getByRole("group", { name: "Unlock offline purse" }).count(), 0, "online, the password logs in");
  await a.page.getByLabel("Password").fill("priya-secret-1");
  await a.page.getByRole("button", { name: "Log in" }).click();
  await a.page.getByRole("heading", { name: "Home" }).waitFor();
  await backOnline(b);
  await waitText(b.page, '[data-testid="balance"]', "₹120.00");
  for (const p of [a.page, b.page]) {
    await p.goto(`${srv.url}/#/sync`);
    await waitText(p, '[data-testid="sync-summary"]', "Everything is settled.");
  }
  assert.equal(await apiBalance("ravi", "ravi-secret-12"), 12000);
  assert.equal(await apiBalance("priya", "priya-secret-1"), 50000);
  // A second sync changes nothing: it was paid once.
  await a.page.getByRole("button", { name: "Sync now" }).click();
  await a.page.getByRole("heading", { name: "Sync status" }).waitFor();
  assert.equal(await apiBalance("ravi", "ravi-secret-12"), 12000);

  assert.deepEqual(quiet(a.errors), []);
  assert.deepEqual(quiet(b.errors), []);
  await a.context.close();
  await b.context.close();
});

test("five wrong PINs turn the offline unlock off; the password logs in and the money is all there", async () => {
  const c = await phone(browser);
  await register(c.page, srv.url, "meera", "meera-secret-1");
  await depositAndReload(c.page, srv, "meera", "300.00");
  await loadPurse(c.page, "100.00", { balanceAfter: "₹200.00" });
  await c.context.setOffline(true);
  await c.page.getByRole("heading", { name: "Offline" }).waitFor();
  await logOutOffline(c.page);

  for (const left of [4, 3, 2, 1]) {
    await unlockWith(c.page, WRONG_PIN);
    await waitText(c.page, '[data-testid="unlock-offline"] .error', `Wrong PIN. ${left} ${left === 1 ? "try" : "tries"} left before you must log in online.`);
  }
  await unlockWith(c.page, WRONG_PIN);
  const locked = "Too many wrong PINs. Log in online with your password to use your PIN again. Your offline money and payments stay on this phone.";
  await c.page.getByText(locked).waitFor();
  assert.equal(await c.page.getByLabel("Wallet PIN").count(), 0, "no more tries");
  await shot(c.page, "offline-unlock-locked");
  // A reload changes nothing: the count is kept on the phone, and the right PIN no longer opens it.
  await c.page.reload();
  await c.page.getByRole("heading", { name: "Log in to offpay" }).waitFor();
  await c.page.getByText(locked).waitFor();
  assert.equal(await c.page.getByLabel("Wallet PIN").count(), 0);

  // Online again: the unlock card goes, the password logs in, and nothing was lost.
  await c.context.setOffline(false);
  await waitText(c.page, "#net-status", "Online");
  await c.page.waitForFunction(() => !document.querySelector('[data-testid="unlock-offline"]'));
  await logIn(c.page, "meera", "meera-secret-1");
  await waitText(c.page, '[data-testid="balance"]', "₹200.00");
  await waitText(c.page, '[data-testid="offline-balance"]', rupees("100.00"));
  assert.equal(await apiBalance("meera", "meera-secret-1"), 20000);

  // The password login set the count back: offline, the PIN opens the purse again.
  await c.context.setOffline(true);
  await c.page.getByRole("heading", { name: "Offline" }).waitFor();
  await logOutOffline(c.page);
  await unlockWith(c.page, TEST_PIN);
  await c.page.getByRole("heading", { name: "Offline" }).waitFor();
  await waitText(c.page, '[data-testid="offline-balance"]', rupees("100.00"));

  // Connected, but the server does not answer: the unlock is offered too.
  await c.page.route("**/v1/config", (route) => route.abort("connectionrefused"));
  await c.context.setOffline(false);
  await c.page.getByRole("button", { name: "Log out" }).click();
  await c.page.getByRole("button", { name: "Log out anyway" }).click();
  await c.page.getByRole("heading", { name: "Log in to offpay" }).waitFor();
  await c.page.getByRole("group", { name: "Unlock offline purse" }).waitFor();
  await c.page.unroute("**/v1/config");
  assert.deepEqual(quiet(c.errors).filter((e) => !/ERR_CONNECTION_REFUSED/.test(e)), []);
  await c.context.close();
});

test("an online send asks for the PIN once one is set (Account security); a wrong PIN writes and sends nothing", async () => {
  const d = await phone(browser);
  const e = await phone(browser);
  await register(d.page, srv.url, "kiran", "kiran-secret-1");
  await register(e.page, srv.url, "lata", "lata-secret-12");
  await depositAndReload(d.page, srv, "kiran", "200.00");

  // No PIN yet: the send confirm has no PIN field.
  const send = async (amount) => {
    await d.page.getByRole("link", { name: "Send" }).click();
    await d.page.getByLabel("To").fill("lata");
    await d.page.getByLabel("Amount").fill(amount);
    await d.page.getByRole("button", { name: "Send" }).click();
    await d.page.getByRole("group", { name: "Confirm payment" }).waitFor();
  };
  await send("10.00");
  assert.equal(await d.page.getByLabel("Wallet PIN").count(), 0);
  await d.page.getByRole("button", { name: "Confirm" }).click();
  await d.page.getByRole("heading", { name: "Payment successful" }).waitFor();
  await d.page.getByRole("link", { name: "Done" }).click();

  // Set the PIN on Account security.
  await d.page.getByRole("link", { name: "Account security" }).click();
  await waitText(d.page, '[data-testid="pin-status"]', "No wallet PIN is set on this phone yet.");
  await setPin(d.page);
  await waitText(d.page, '[data-testid="pin-status"]', "A wallet PIN is set on this phone.");
  await d.page.getByRole("link", { name: "offpay home" }).click();
  await d.page.getByRole("heading", { name: "Home" }).waitFor();

  await send("50.00");
  await enterPin(d.page, WRONG_PIN);
  await d.page.getByRole("button", { name: "Confirm" }).click();
  assert.equal(await fieldError(d.page, "Wallet PIN"), "Wrong PIN. 4 tries left before you must log in online.");
  assert.equal(await stored(d.page, "intents", "kiran"), 0, "nothing written");
  assert.equal(await apiBalance("lata", "lata-secret-12"), 1000, "nothing sent");
  await shot(d.page, "send-pin");
  await enterPin(d.page);
  await d.page.getByRole("button", { name: "Confirm" }).click();
  await d.page.getByRole("heading", { name: "Payment successful" }).waitFor();
  assert.match(await textOf(d.page, "result-summary"), /₹50\.00 sent to lata\. Your balance is now ₹140\.00/);
  assert.equal(await apiBalance("lata", "lata-secret-12"), 6000);

  // Changing the PIN needs the current one.
  await d.page.getByRole("link", { name: "Done" }).click();
  await d.page.getByRole("link", { name: "Account security" }).click();
  await setPin(d.page, "975310", { current: WRONG_PIN });
  assert.equal(await fieldError(d.page, "Current PIN"), "Wrong PIN. 4 tries left before you must log in online.");
  await setPin(d.page, "975310", { current: TEST_PIN });
  await d.page.getByText("Your wallet PIN is changed.").waitFor();

  // Five wrong PINs on Send: the session ends and the login page says why; nothing was sent.
  await d.page.getByRole("link", { name: "offpay home" }).click();
  await d.page.getByRole("heading", { name: "Home" }).waitFor();
  await send("5.00");
  for (let i = 0; i < 5; i++) {
    await enterPin(d.page, TEST_PIN); // the old PIN
    await d.page.getByRole("button", { name: "Confirm" }).click();
    if (i < 4) await waitText(d.page, '[role="group"] .error', `${4 - i} ${i === 3 ? "try" : "tries"} left`);
  }
  await d.page.getByRole("heading", { name: "Log in to offpay" }).waitFor();
  await d.page.getByText("Too many wrong PINs. Log in online with your password to use your PIN again.", { exact: false }).waitFor();
  assert.equal(await d.page.evaluate(() => localStorage.getItem("offpay.session")), null);
  assert.equal(await apiBalance("lata", "lata-secret-12"), 6000, "nothing sent");
  // The password logs in again, and the new PIN works.
  await logIn(d.page, "kiran", "kiran-secret-1");
  await send("5.00");
  await enterPin(d.page, "975310");
  await d.page.getByRole("button", { name: "Confirm" }).click();
  await d.page.getByRole("heading", { name: "Payment successful" }).waitFor();
  assert.equal(await apiBalance("lata", "lata-secret-12"), 6500);

  // A forgotten PIN: the account password (checked by the server) lets a new one be set.
  await d.page.getByRole("link", { name: "Done" }).click();
  await d.page.getByRole("link", { name: "Account security" }).click();
  await d.page.getByText("Forgot your PIN?").click();
  await d.page.getByLabel("Your password").fill("not-kirans-password");
  await d.page.getByRole("button", { name: "Set a new PIN with my password" }).click();
  assert.equal(await fieldError(d.page, "Your password"), "The password is wrong.");
  await d.page.getByLabel("Your password").fill("kiran-secret-1");
  await d.page.getByRole("button", { name: "Set a new PIN with my password" }).click();
  await d.page.getByRole("button", { name: "Set new PIN" }).waitFor();
  assert.equal(await d.page.getByLabel("Current PIN").count(), 0, "no old PIN needed");
  await setPin(d.page, "314159", { button: "Set new PIN" });
  // Account security shows again, with the usual change form (the earlier notice may still show).
  await d.page.getByRole("button", { name: "Change PIN" }).waitFor();
  await d.page.getByRole("link", { name: "offpay home" }).click();
  await send("5.00");
  await enterPin(d.page, "314159");
  await d.page.getByRole("button", { name: "Confirm" }).click();
  await d.page.getByRole("heading", { name: "Payment successful" }).waitFor();
  assert.equal(await apiBalance("lata", "lata-secret-12"), 7000);
  assert.deepEqual(quiet(d.errors), []);
  assert.deepEqual(quiet(e.errors), []);
  await d.context.close();
  await e.context.close();
});
