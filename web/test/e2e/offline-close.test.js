// End-to-end in Chromium against the real `offpay serve`: closing an offline purse from the web
// wallet while a payment from it has not reached the server. Alice loads 200.00 and pays Bob
// 50.00 with an offline note (Bob's phone is offline and keeps the note). Alice closes the purse:
// the confirmation says what returns and what stays reserved, the server (which verifies the
// device-signed close statement) returns 150.00 at once and holds 50.00; her offline balance is
// 0. Bob comes back online, his phone uploads the note and he is paid 50.00 from the reserve.
// Alice's phone then has no open purse: Pay says so, online and offline, and pay() refuses.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startServerAndBrowser, stopServerAndBrowser, backOnline, confirmAndAccept, depositAndReload, goOfflineToPay, loadPurse, payDirectly, phone, register,
  textOf, waitText,
} from "../harness.js";

const NO_OPEN_PURSE = "You have no open offline purse. Load one while online.";

let srv;
let browser;
before(async () => { ({ srv, browser } = await startServerAndBrowser()); });
after(() => stopServerAndBrowser({ srv, browser }));

/** Bob's phone makes a payment request for `amount` and returns its text. */
async function requestFrom(page, amount) {
  await page.getByRole("link", { name: "Receive", exact: true }).click();
  await page.getByRole("heading", { name: "Receive" }).waitFor();
  await page.getByLabel("Amount").fill(amount);
  await page.getByRole("button", { name: "Request payment" }).click();
  await page.getByRole("heading", { name: "Payment request" }).waitFor();
  const text = await page.getByRole("textbox", { name: "Payment request" }).inputValue();
  assert.match(text, /^OPR1:/);
  return text;
}

test("closing a purse with a payment not yet uploaded: the rest returns now, the payee is paid later, no more offline payments", async () => {
  const a = await phone(browser);
  const b = await phone(browser);
  await register(a.page, srv.url, "alice", "alice-secret-1");
  await register(b.page, srv.url, "bob", "bob-secret-12");
  await depositAndReload(a.page, srv, "alice", "200.00");

  // Alice loads a purse of 200.00.
  await loadPurse(a.page, "200.00", {
    onForm: async (p) => assert.equal(await p.getByRole("link", { name: "Close offline purse" }).count(), 0, "nothing to close before a purse is loaded"),
    balanceAfter: "₹0.00",
  });

  // Closing needs a connection: offline, neither the offline home nor the purse screen offers it.
  await a.context.setOffline(true);
  await a.page.getByRole("heading", { name: "Offline" }).waitFor();
  await a.page.getByRole("link", { name: "Pay", exact: true }).waitFor();
  assert.equal(await a.page.getByRole("link", { name: "Close offline purse" }).count(), 0);
  await a.page.evaluate(() => { location.hash = "#/purse"; });
  await a.page.getByText("Loading a purse needs a connection.").waitFor();
  assert.equal(await a.page.getByRole("link", { name: "Close offline purse" }).count(), 0);
  await backOnline(a);

  // Bob's phone is offline (a shop with no connection): he asks for 50.00 and Alice pays with an
  // offline note. Nothing uploads it: Bob's phone is offline, and Alice's uploads only when its
  // connection returns or the app starts.
  await b.context.setOffline(true);
  await b.page.getByRole("heading", { name: "Offline" }).waitFor();
  const requestText = await requestFrom(b.page, "50.00");
  await a.page.getByRole("link", { name: "Pay", exact: true }).click();
  await a.page.getByRole("heading", { name: "Pay", exact: true }).waitFor();
  await a.page.getByRole("textbox", { name: "Payment request" }).fill(requestText);
  await a.page.getByRole("button", { name: "Pay", exact: true }).click();
  assert.match(await a.page.getByRole("group", { name: "Confirm payment" }).textContent(), /Pay ₹50\.00 to bob/);
  await confirmAndAccept(a.page, b.page);

  await a.page.getByRole("link", { name: "Done" }).click();
  await a.page.getByRole("heading", { name: "Home", exact: true }).waitFor();
  await waitText(a.page, '[data-testid="offline-balance"]', "₹150.00");

  // Alice closes the purse: the confirmation says what happens, then the server's answer.
  await a.page.getByRole("link", { name: "Load offline purse" }).click();
  await a.page.getByRole("link", { name: "Close offline purse" }).click();
  await a.page.getByRole("heading", { name: "Close offline purse" }).waitFor();
  const confirm = a.page.getByRole("group", { name: "Confirm closing" });
  assert.equal(await textOf(a.page, "close-summary"), "₹150.00 returns to your balance now; ₹50.00 stays reserved for payments not yet settled.");
  assert.match(await confirm.textContent(), /1 payment\(s\) you made offline have not reached the server yet/);
  await confirm.getByRole("button", { name: "Close purse" }).click();
  await a.page.getByRole("heading", { name: "Purse closed" }).waitFor();
  // 50.00 held proves the note had not reached the server: the close statement counted it.
  assert.match(await textOf(a.page, "result-summary"), /^₹150\.00 returned to your balance\. ₹50\.00 stays reserved for payments not yet settled/);
  await a.page.getByRole("link", { name: "Done" }).click();
  await a.page.getByRole("heading", { name: "Home", exact: true }).waitFor();
  await waitText(a.page, '[data-testid="balance"]', "₹150.00");
  await waitText(a.page, '[data-testid="offline-balance"]', "₹0.00");
  const stored = await a.page.evaluate(async () => {
    const db = await import("/js/offline/db.js");
    return (await db.allFor("purses", "alice")).map((p) => [p.status, p.closeText.slice(0, 5), p.returned, p.held]);
  });
  assert.deepEqual(stored, [["closed", "OPX1:", 15000, 5000]]);

  // Alice's payment still waits (her phone has not uploaded it).
  await a.page.getByRole("link", { name: "Sync status" }).click();
  await a.page.getByRole("heading", { name: "Sync status" }).waitFor();
  assert.equal(await textOf(a.page, "sync-summary"), "1 offline payment(s) waiting to settle.");

  // Bob comes back online: his phone uploads the note and he is paid from the reserve; Alice's
  // phone hears that her payment settled (offline_out) and her balance does not change.
  await backOnline(b);
  await waitText(b.page, '[data-testid="balance"]', "₹50.00");
  await waitText(a.page, '[data-testid="sync-summary"]', "Everything is settled.");
  await a.page.getByRole("link", { name: "offpay home" }).click();
  await a.page.getByRole("heading", { name: "Home", exact: true }).waitFor();
  await waitText(a.page, '[data-testid="balance"]', "₹150.00");
  await waitText(a.page, '[data-testid="offline-balance"]', "₹0.00");

  // Alice cannot pay offline any more: Pay says there is no open purse (online and offline), the
  // purse screen offers no close, and pay() itself refuses a fresh request of Bob's.
  await a.page.getByRole("link", { name: "Pay", exact: true }).click();
  await a.page.getByRole("heading", { name: "Pay", exact: true }).waitFor();
  assert.equal(await textOf(a.page, "no-purse"), NO_OPEN_PURSE);
  assert.equal(await a.page.getByRole("textbox", { name: "Payment request" }).count(), 0);
  await a.page.getByRole("link", { name: "Load offline purse" }).click();
  await a.page.getByRole("heading", { name: "Load offline purse" }).waitFor();
  await a.page.getByLabel("Amount").waitFor();
  assert.equal(await a.page.getByRole("link", { name: "Close offline purse" }).count(), 0);

  const second = await requestFrom(b.page, "20.00");
  const direct = await payDirectly(a.page, "alice", second);
  assert.equal(direct, `no_purse: ${NO_OPEN_PURSE}`);

  await goOfflineToPay(a, "₹0.00");
  assert.equal(await textOf(a.page, "no-purse"), NO_OPEN_PURSE);
  await a.context.setOffline(false);

  assert.deepEqual(a.errors, []);
  assert.deepEqual(b.errors, []);
  await a.context.close();
  await b.context.close();
});
