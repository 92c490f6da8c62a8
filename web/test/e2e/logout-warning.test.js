// End-to-end in Chromium against the real `offpay serve`: logging out warns first when this
// device holds offline money or payments not yet settled (pages/logout.js), online and offline,
// and logs out at once when it holds nothing. What the device holds stays for the next login.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServerAndBrowser, stopServerAndBrowser, depositAndReload, loadPurse, phone, register, rupees, textOf, waitText } from "../harness.js";

let srv;
let browser;
before(async () => { ({ srv, browser } = await startServerAndBrowser()); });
after(() => stopServerAndBrowser({ srv, browser }));

test("log out warns while an offline purse holds money, online and offline, and the purse is there after logging in again", async () => {
  const a = await phone(browser);
  await register(a.page, srv.url, "esha", "esha-secret-1");

  // The header fits a 320 px screen with text at 200%: nothing scrolls sideways.
  await a.page.setViewportSize({ width: 320, height: 740 });
  await a.page.evaluate(() => { document.documentElement.style.fontSize = "200%"; });
  const widths = await a.page.evaluate(() => {
    const bar = document.querySelector("header.bar");
    return { page: document.documentElement.scrollWidth, bar: bar.scrollWidth, barBox: bar.clientWidth };
  });
  assert.ok(widths.page <= 320 && widths.bar <= widths.barBox, JSON.stringify(widths));
  await a.page.evaluate(() => { document.documentElement.style.fontSize = ""; });
  await a.page.setViewportSize({ width: 360, height: 740 });

  // Nothing on the device: Log out logs out at once.
  await a.page.getByRole("button", { name: "Log out" }).click();
  await a.page.getByRole("heading", { name: "Log in to offpay" }).waitFor();
  await a.page.getByLabel("Username").fill("esha");
  await a.page.getByLabel("Password").fill("esha-secret-1");
  await a.page.getByRole("button", { name: "Log in" }).click();
  await a.page.getByRole("heading", { name: "Home" }).waitFor();

  await depositAndReload(a.page, srv, "esha", "300.00");
  await loadPurse(a.page, "100.00");

  // Online: the warning names the purse; "Stay logged in" goes back home.
  await a.page.getByRole("button", { name: "Log out" }).click();
  await a.page.getByRole("heading", { name: "Log out?" }).waitFor();
  const online = await textOf(a.page, "logout-warning");
  assert.match(online, /₹100\.00 is in your offline purse on this device\./);
  assert.match(online, /Sync first/);
  await a.page.getByRole("link", { name: "Stay logged in" }).click();
  await a.page.getByRole("heading", { name: "Home" }).waitFor();

  // Offline: it also says that logging in again needs a connection.
  await a.context.setOffline(true);
  await a.page.getByRole("heading", { name: "Offline" }).waitFor();
  await a.page.getByRole("button", { name: "Log out" }).click();
  await a.page.getByRole("heading", { name: "Log out?" }).waitFor();
  assert.match(await textOf(a.page, "logout-warning"), /logging in needs a connection/);
  await a.page.getByRole("button", { name: "Log out anyway" }).click();
  await a.page.getByRole("heading", { name: "Log in to offpay" }).waitFor();

  // Back online and logged in again: the purse is still on the device.
  await a.context.setOffline(false);
  await a.page.getByLabel("Username").fill("esha");
  await a.page.getByLabel("Password").fill("esha-secret-1");
  await a.page.getByRole("button", { name: "Log in" }).click();
  await a.page.getByRole("heading", { name: "Home" }).waitFor();
  await waitText(a.page, '[data-testid="offline-balance"]', rupees("100.00"));
  assert.deepEqual(a.errors.filter((e) => !/Failed to load resource|ERR_INTERNET_DISCONNECTED/.test(e)), []);
});
