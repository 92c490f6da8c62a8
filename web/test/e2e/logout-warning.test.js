// End-to-end in Chromium against the real `offpay serve`: logging out warns first when this
// device holds offline money or payments not yet settled (pages/logout.js), online and offline,
// and logs out at once when it holds nothing. What the device holds stays for the next login.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServerAndBrowser, stopServerAndBrowser, depositAndReload, loadPurse, logIn, phone, register, rupees, shot, textOf, waitText } from "../harness.js";

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
  await logIn(a.page, "esha", "esha-secret-1");

  await depositAndReload(a.page, srv, "esha", "300.00");
  await loadPurse(a.page, "100.00");

  // Online: the warning names the purse; "Stay logged in" goes back home.
  await a.page.getByRole("button", { name: "Log out" }).click();
  await a.page.getByRole("heading", { name: "Log out?" }).waitFor();
  const online = await textOf(a.page, "logout-warning");
  assert.match(online, /₹100\.00 is in your offline purse on this device\./);
  assert.match(online, /Sync first/);
  await shot(a.page, "logout-warning");
  await a.page.getByRole("link", { name: "Stay logged in" }).click();
  await a.page.getByRole("heading", { name: "Home" }).waitFor();

  // Offline: it also says that the wallet PIN (set before the purse was loaded) opens the purse
  // again with no connection, and that uploading needs logging in online.
  await a.context.setOffline(true);
  await a.page.getByRole("heading", { name: "Offline" }).waitFor();
  await a.page.getByRole("button", { name: "Log out" }).click();
  await a.page.getByRole("heading", { name: "Log out?" }).waitFor();
  assert.match(await textOf(a.page, "logout-warning"), /With no connection you can open your offline purse again with your wallet PIN; uploading these payments needs logging in online\./);
  await a.page.getByRole("button", { name: "Log out anyway" }).click();
  await a.page.getByRole("heading", { name: "Log in to offpay" }).waitFor();

  // Back online and logged in again: the purse is still on the device.
  await a.context.setOffline(false);
  await logIn(a.page, "esha", "esha-secret-1");
  await waitText(a.page, '[data-testid="offline-balance"]', rupees("100.00"));
  assert.deepEqual(a.errors.filter((e) => !/Failed to load resource|ERR_INTERNET_DISCONNECTED/.test(e)), []);
});

test("account security: a password change logs the other phone out, and log out on every device logs this one out too", async () => {
  const a = await phone(browser);
  const b = await phone(browser);
  await register(a.page, srv.url, "farah", "farah-secret-1");
  await b.page.goto(`${srv.url}/`);
  await logIn(b.page, "farah", "farah-secret-1");

  await a.page.getByRole("link", { name: "Account security" }).click();
  await a.page.getByRole("heading", { name: "Account security" }).waitFor();
  await shot(a.page, "account-security");
  // A wrong current password: said next to that field, nothing changes.
  await a.page.getByLabel("Current password").fill("not-my-password");
  await a.page.getByLabel("New password", { exact: true }).fill("farah-secret-2");
  await a.page.getByLabel("Repeat new password").fill("farah-secret-2");
  await a.page.getByRole("button", { name: "Change password" }).click();
  await a.page.waitForFunction(() => document.querySelector('input[name="current-password"]')?.getAttribute("aria-invalid") === "true");
  assert.equal(await a.page.getByLabel("Current password").evaluate((el) => document.getElementById(el.getAttribute("aria-describedby")).textContent),
    "The current password is wrong.");

  await a.page.getByLabel("Current password").fill("farah-secret-1");
  await a.page.getByRole("button", { name: "Change password" }).click();
  await a.page.getByRole("heading", { name: "Password changed" }).waitFor();
  // The other phone's session ended: its live connection is closed and it is back at login.
  await b.page.getByRole("heading", { name: "Log in to offpay" }).waitFor();
  await b.page.getByText("Your session has ended. Please log in again.").waitFor();
  // This phone stays logged in.
  await a.page.getByRole("link", { name: "Done" }).click();
  await a.page.getByRole("heading", { name: "Home" }).waitFor();

  // Log in on the other phone with the new password, then log out on every device from this one.
  await logIn(b.page, "farah", "farah-secret-2");
  await a.page.getByRole("link", { name: "Account security" }).click();
  await a.page.getByRole("button", { name: "Log out on every device" }).click();
  await a.page.getByRole("heading", { name: "Log in to offpay" }).waitFor();
  await a.page.getByText("You were logged out on every device.").waitFor();
  await b.page.getByRole("heading", { name: "Log in to offpay" }).waitFor();
});
