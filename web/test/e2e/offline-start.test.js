// End-to-end in Chromium against the real `offpay serve`: after one online visit the service
// worker serves the whole app with no connection, and the offline home replaces home while the
// device is offline. (Its own server: each test file starts one.)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServerAndBrowser, stopServerAndBrowser, phone, register } from "../harness.js";

let srv;
let browser;
before(async () => { ({ srv, browser } = await startServerAndBrowser()); });
after(() => stopServerAndBrowser({ srv, browser }));

test("offline: the service worker serves the app and the offline home replaces home", async () => {
  const d = await phone(browser);
  await register(d.page, srv.url, "dave", "dave-secret-12");
  await d.page.waitForFunction(() => document.documentElement.dataset.sw === "ready");
  await d.context.setOffline(true);
  await d.page.getByRole("heading", { name: "Offline" }).waitFor();
  await d.page.reload();
  await d.page.getByRole("heading", { name: "Offline" }).waitFor();
  assert.equal(await d.page.locator("#net-status").textContent(), "Offline");
  await d.page.getByRole("link", { name: "Pay", exact: true }).waitFor();
  await d.page.getByRole("link", { name: "Receive", exact: true }).waitFor();
  await d.context.setOffline(false);
  await d.page.getByRole("heading", { name: "Home" }).waitFor();
  assert.equal(await d.page.locator("#net-status").textContent(), "Online");
  assert.deepEqual(d.errors, []);
  await d.context.close();
});
