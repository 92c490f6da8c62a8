// End-to-end in Chromium against the real `offpay serve`: the device token a sign-in gave this
// browser outlives logout and lets it sign in while a stranger has spent the account's guesses
// (10 per 30 minutes from devices that never signed in: docs/OPERATIONS.md, "Login throttling").
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { startServerAndBrowser, stopServerAndBrowser, logIn, phone, register } from "../harness.js";

let srv;
let browser;
before(async () => { ({ srv, browser } = await startServerAndBrowser()); });
after(() => stopServerAndBrowser({ srv, browser }));

/** One wrong-password login sent from the loopback address `from` (the server sees a stranger there). */
function strangerGuess(from, handle) {
  const body = JSON.stringify({ handle, password: "a wrong guess" });
  const url = new URL("/v1/login", srv.url);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", localAddress: from, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode));
    });
    req.on("error", reject);
    req.end(body);
  });
}

test("a browser that signed in before signs in while a stranger has the account throttled; a new browser waits", async () => {
  const a = await phone(browser);
  await register(a.page, srv.url, "ravi", "ravi-secret-1");
  await a.page.getByRole("button", { name: "Log out" }).click();
  await a.page.getByRole("heading", { name: "Log in to offpay" }).waitFor();
  // Logging out ended the session, not the device's token.
  const token = await a.page.evaluate(() => localStorage.getItem("offpay.device.ravi"));
  assert.match(token ?? "", /^[0-9a-f]{64}$/);

  // Ten wrong guesses from ten addresses spend the account's budget.
  const answers = [];
  for (let i = 10; i < 20; i++) answers.push(await strangerGuess(`127.0.0.${i}`, "ravi"));
  assert.deepEqual(answers, Array(10).fill(401));
  assert.equal(await strangerGuess("127.0.0.20", "ravi"), 429);

  // A new browser with the right password is refused, with the reason.
  const b = await phone(browser);
  await b.page.goto(`${srv.url}/`);
  await b.page.getByRole("heading", { name: "Log in to offpay" }).waitFor();
  await b.page.getByLabel("Username").fill("ravi");
  await b.page.getByLabel("Password").fill("ravi-secret-1");
  await b.page.getByRole("button", { name: "Log in" }).click();
  await b.page.getByText(/^Too many attempts\. Try again in (29|30) minutes\.$/).waitFor();

  // This browser is let in, and keeps its token.
  await logIn(a.page, "Ravi", "ravi-secret-1");
  assert.equal(await a.page.evaluate(() => localStorage.getItem("offpay.device.ravi")), token);
  assert.deepEqual(a.errors.filter((e) => !/Failed to load resource/.test(e)), []);
});
