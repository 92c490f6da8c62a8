// End-to-end in Chromium against the real `offpay serve` started with `--rate-register 1/1`: the
// server opens one new account a minute, whatever the address (docs/OPERATIONS.md "Request
// limits"). The second person to register that minute is told, in plain words, that the server is
// busy and how long to wait; no account is made, and the first person is not affected.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServerAndBrowser, stopServerAndBrowser, phone, register } from "../harness.js";

let srv;
let browser;
before(async () => { ({ srv, browser } = await startServerAndBrowser({ rateRegister: "1/1" })); });
after(() => stopServerAndBrowser({ srv, browser }));

test("register: beyond the server's new accounts a minute, the page says busy and how long to wait", async () => {
  const a = await phone(browser);
  await register(a.page, srv.url, "alice", "alice-secret-1");

  const b = await phone(browser);
  await b.page.goto(`${srv.url}/`);
  await b.page.getByRole("heading", { name: "Log in to offpay" }).waitFor();
  await b.page.getByLabel("Username").fill("bob");
  await b.page.getByLabel("Password").fill("bob-secret-12");
  const answer = b.page.waitForResponse((r) => r.url().endsWith("/v1/register"));
  await b.page.getByRole("button", { name: "Register" }).click();
  const response = await answer;
  assert.equal(response.status(), 503);
  const wait = Number(response.headers()["retry-after"]);
  assert.ok(wait > 5 && wait <= 60, `Retry-After ${wait}`);
  await b.page.getByText(/^The server is busy\. Try again in (\d+ seconds|1 minute)\.$/).waitFor();
  // Still on the login page, and no account was made: bob cannot log in.
  assert.ok(await b.page.getByRole("heading", { name: "Log in to offpay" }).isVisible());
  const login = await fetch(`${srv.url}/v1/login`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ handle: "bob", password: "bob-secret-12" }),
  });
  assert.equal(login.status, 401);

  // Alice, already registered, signs in and uses her wallet as usual.
  await a.page.reload();
  await a.page.getByRole("heading", { name: "Home" }).waitFor();
  assert.deepEqual(a.errors, []);
  await a.context.close();
  await b.context.close();
});
