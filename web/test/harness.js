// Test harness for the browser tests: starts the real `offpay serve` binary on a free port with a
// temporary --data folder, runs `offpay admin deposit`, and launches Debian's Chromium through
// playwright-core (never a downloaded browser). Also the steps several browser tests share
// (registering with a deposit, loading an offline purse, handing over a payment note), and
// serveApp(): the app's files from disk with no API, for browser tests of the app's modules.
import { spawn, execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const run = promisify(execFile);
export const REPO = fileURLToPath(new URL("../../", import.meta.url));

export function offpayBin() {
  const candidates = [process.env.OFFPAY_BIN, join(REPO, "target/debug/offpay")].filter(Boolean);
  const bin = candidates.find((p) => existsSync(p));
  if (!bin) throw new Error(`offpay binary not found (tried ${candidates.join(", ")}); build it with cargo build -p offpay or set OFFPAY_BIN`);
  return bin;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

async function waitHealthy(url, child, log) {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`offpay serve exited with ${child.exitCode}:\n${log()}`);
    try {
      const r = await fetch(`${url}/v1/health`);
      if (r.ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`offpay serve did not become healthy:\n${log()}`);
}

/**
 * Starts `offpay serve`; returns {url, dataDir, log, deposit, stop}. `url` serves the web app and
 * the API. `rateRegister` is the server's `--rate-register` (new accounts a minute, burst).
 */
export async function startOffpay({ rateRegister = "6000/1000" } = {}) {
  const bin = offpayBin();
  const dataDir = mkdtempSync(join(tmpdir(), "offpay-web-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let out = "";
  // Every phone of a test file signs in from 127.0.0.1, one address: its register/login rate
  // (30 a minute in production, docs/OPERATIONS.md "Request limits") would refuse the phones of
  // a fast run with 429 rate_limited, and a test file opens more accounts a minute than one
  // server does by default (--rate-register). The per-account login throttle stays as in
  // production.
  const child = spawn(bin, ["serve", "--listen", `127.0.0.1:${port}`, "--data", dataDir, "--rate-auth-per-ip", "6000/1000", "--rate-register", rateRegister], {
    stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" },
  });
  child.stdout.on("data", (d) => { out += d; });
  child.stderr.on("data", (d) => { out += d; });
  await waitHealthy(url, child, () => out);
  try {
    await checkEmbeddedApp(url);
  } catch (e) {
    child.kill("SIGTERM");
    rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  return {
    url, dataDir,
    log: () => out,
    async deposit(handle, amount) {
      await run(bin, ["admin", "--data", dataDir, "deposit", handle, amount]);
    },
    async stop() {
      if (process.env.OFFPAY_E2E_DEBUG) {
        const hits = out.split("\n").map((l) => l.match(/started processing.*|uri=(\S+) /)).filter(Boolean);
        console.log(out.split("\n").filter((l) => /started processing/.test(l)).map((l) => `${l.slice(11, 23)} ${l.match(/uri=(\S+)/)?.[1]}`).join("\n"));
        void hits;
      }
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const PUBLIC = join(REPO, "web/public");

/**
 * The server embeds web/public when it is built (debug builds too): a binary built before the
 * last change to web/public serves an older app than the one on disk, and every browser test
 * would test that older app. Fails with what to do when the binary's /sw.js (which carries the
 * content hash of every app file) differs from web/public/sw.js.
 */
async function checkEmbeddedApp(serverUrl) {
  const served = await (await fetch(`${serverUrl}/sw.js`)).text();
  if (served !== readFileSync(join(PUBLIC, "sw.js"), "utf8")) {
    throw new Error("the offpay binary embeds an older web/public than the one on disk: rebuild it (cargo build -p offpay) before the browser tests");
  }
}

const TYPES = { html: "text/html", js: "text/javascript", mjs: "text/javascript", css: "text/css", txt: "text/plain", json: "application/json", webmanifest: "application/manifest+json", png: "image/png", svg: "image/svg+xml" };

/**
 * Serves web/public as it is on disk at http://127.0.0.1:PORT (a secure context, so WebCrypto and
 * IndexedDB work), with no API behind it: for browser tests that import the app's modules and
 * call them directly, without `offpay serve` (so they test the files on disk even when the
 * binary embeds an older copy). Returns {url, stop}.
 */
export async function serveApp() {
  const server = createHttpServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    const file = join(PUBLIC, path === "/" ? "index.html" : path);
    if (path.includes("..") || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    const type = TYPES[file.split(".").pop()] ?? "application/octet-stream";
    res.writeHead(200, { "content-type": type, "cache-control": "no-cache" }).end(readFileSync(file));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    stop: () => new Promise((resolve) => server.close(resolve)),
  };
}

export function chromiumPath() {
  const p = [process.env.CHROMIUM_PATH, "/usr/lib/chromium/chromium", "/usr/bin/chromium"].filter(Boolean).find((x) => existsSync(x));
  if (!p) throw new Error("Chromium not found: install Debian's chromium (scripts/web-test does)");
  return p;
}

export function launchBrowser(extraArgs = []) {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-background-networking", "--disable-gpu",
      "--disable-component-update", "--no-first-run", ...extraArgs],
  });
}

/**
 * The before() hook of a browser test file: starts `offpay serve` (startOffpay) and Chromium
 * (launchBrowser); returns {srv, browser}. If Chromium fails to start, the server is stopped.
 */
export async function startServerAndBrowser(options = {}) {
  const srv = await startOffpay(options);
  try {
    return { srv, browser: await launchBrowser() };
  } catch (e) {
    await srv.stop();
    throw e;
  }
}

/** The matching after() hook: closes the browser, then stops the server (either may be missing). */
export async function stopServerAndBrowser({ srv, browser } = {}) {
  await browser?.close();
  await srv?.stop();
}

/** A phone-sized context (360x740) that records console errors and page errors into `errors`. */
export async function phone(browser, opts = {}) {
  const context = await browser.newContext({ viewport: { width: 360, height: 740 }, deviceScaleFactor: 1, ...opts });
  // Generous waits for slow machines; every wait is for a condition, never a fixed time.
  context.setDefaultTimeout(60_000);
  const page = await context.newPage();
  const errors = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`${m.text()}${m.location()?.url ? ` (${m.location().url})` : ""}`);
  });
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  if (process.env.OFFPAY_E2E_DEBUG) {
    page.on("console", (m) => console.log("console", m.type(), m.text(), JSON.stringify(m.location())));
    page.on("response", (r) => { if (r.status() >= 400) console.log("response", r.status(), r.url()); });
    page.on("requestfailed", (r) => console.log("request failed", r.url(), r.failure()?.errorText));
  }
  return { context, page, errors };
}

/** Saves a screenshot under $OFFPAY_SCREENSHOTS (docs/screenshots via scripts/web-screenshots). */
export async function shot(page, name) {
  const dir = process.env.OFFPAY_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: false });
}

/** Opens the app at `url` and registers `handle` from the login page; ends on Home. */
export async function register(page, url, handle, password) {
  await page.goto(`${url}/`);
  await page.getByRole("heading", { name: "Log in to offpay" }).waitFor();
  await page.getByLabel("Username").fill(handle);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Register" }).click();
  await page.getByRole("heading", { name: "Home" }).waitFor();
}

/** On the login page, logs `handle` in with `password`; ends on Home. */
export async function logIn(page, handle, password) {
  await page.getByLabel("Username").fill(handle);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { name: "Home" }).waitFor();
}

export const textOf = (page, testId) => page.getByTestId(testId).textContent();

/** Waits until the element at `selector` contains `text`. */
export function waitText(page, selector, text) {
  return page.waitForFunction(([s, t]) => document.querySelector(s)?.textContent?.includes(t), [selector, text]);
}

/** How Home shows a major-unit amount such as "1000.00": "₹1,000.00" (Indian grouping: "₹1,00,000.00"). */
export function rupees(amount) {
  const [whole, frac] = amount.split(".");
  return `₹${new Intl.NumberFormat("en-IN").format(BigInt(whole))}.${frac}`;
}

/**
 * The operator deposits `amount` (major units, "200.00") to `handle`, an account that holds
 * nothing yet; `page`, logged in as `handle`, reloads (on SQLite a deposit by `offpay admin` is
 * not pushed live, docs/OPERATIONS.md) and waits until Home shows the new balance.
 */
export async function depositAndReload(page, srv, handle, amount) {
  await srv.deposit(handle, amount);
  await page.reload();
  await waitText(page, '[data-testid="balance"]', rupees(amount));
}

/** register(), then depositAndReload(): a new account with `amount` on Home. */
export async function registerWithDeposit(page, srv, handle, password, amount) {
  await register(page, srv.url, handle, password);
  await depositAndReload(page, srv, handle, amount);
}

/** The wallet PIN the tests set (six digits, not all the same or in a row). */
export const TEST_PIN = "246810";

/** Fills and submits the "Set your wallet PIN" form shown on `page` (Load offline purse, Pay, Account security). */
export async function setPin(page, pin = TEST_PIN, { current, button } = {}) {
  const form = page.getByTestId("set-pin");
  if (current !== undefined) await form.getByLabel("Current PIN").fill(current);
  await form.getByLabel("New PIN (6 digits)").fill(pin);
  await form.getByLabel("Repeat new PIN").fill(pin);
  await form.getByRole("button", { name: button ?? (current !== undefined ? "Change PIN" : "Set PIN") }).click();
}

/** Types the wallet PIN into the "Wallet PIN" field of a confirm step or of the offline unlock. */
export async function enterPin(page, pin = TEST_PIN) {
  await page.getByLabel("Wallet PIN").fill(pin);
}

/**
 * From Home (online), opens "Load offline purse"; the first purse on a phone asks for a wallet PIN
 * first (pages/pin.js), which is set to TEST_PIN. Ends on the empty load form.
 */
export async function openLoadPurse(page) {
  await page.getByRole("link", { name: "Load offline purse" }).click();
  await page.getByRole("heading", { name: "Load offline purse" }).waitFor();
  if (await page.getByRole("heading", { name: "Set your wallet PIN" }).count()) await setPin(page);
  await page.getByLabel("Amount").waitFor();
}

/**
 * From Home (online), loads an offline purse of `amount` ("200.00") and goes back to Home, waiting
 * until it shows the offline balance. Options, for tests that check or photograph the steps:
 * `onForm(page)` runs when the empty form is shown, `onFilled(page)` when the amount is typed in
 * and not yet submitted; `balanceAfter` ("₹0.00"), if given, is the balance Home must show (waited
 * for before the offline balance).
 */
export async function loadPurse(page, amount, { onForm, onFilled, balanceAfter } = {}) {
  await openLoadPurse(page);
  await onForm?.(page);
  await page.getByLabel("Amount").fill(amount);
  await onFilled?.(page);
  await page.getByRole("button", { name: "Load offline purse" }).click();
  await page.getByRole("heading", { name: "Purse loaded" }).waitFor();
  await page.getByRole("link", { name: "Done" }).click();
  if (balanceAfter !== undefined) await waitText(page, '[data-testid="balance"]', balanceAfter);
  await waitText(page, '[data-testid="offline-balance"]', rupees(amount));
}

/**
 * Each phone ({context, page}, from phone()) gets its connection back; waits until each header
 * says Online and each is on Home.
 */
export async function backOnline(...phones) {
  for (const { context } of phones) await context.setOffline(false);
  for (const { page } of phones) {
    await waitText(page, "#net-status", "Online");
    await page.getByRole("link", { name: "offpay home" }).click();
    await page.getByRole("heading", { name: "Home", exact: true }).waitFor();
  }
}

/**
 * `phone` ({context, page}, from phone()) loses its connection; from the offline home, which must
 * show `offlineBalance` ("₹200.00"), it opens Pay.
 */
export async function goOfflineToPay({ context, page }, offlineBalance) {
  await context.setOffline(true);
  await page.getByRole("link", { name: "offpay home" }).click();
  await page.getByRole("heading", { name: "Offline" }).waitFor();
  await waitText(page, '[data-testid="offline-balance"]', offlineBalance);
  await page.getByRole("link", { name: "Pay", exact: true }).click();
  await page.getByRole("heading", { name: "Pay", exact: true }).waitFor();
}

/**
 * The payer confirms the offline payment shown on `payer` (its "Confirm payment" step) and the
 * payee's phone accepts the note text exactly as shown; ends on the payee's "Payment successful".
 * Returns the note text.
 */
export async function confirmAndAccept(payer, payee) {
  await enterPin(payer);
  await payer.getByRole("button", { name: "Confirm" }).click();
  await payer.getByRole("heading", { name: "Payment note ready" }).waitFor();
  const noteText = await payer.getByRole("textbox", { name: "Payment note" }).inputValue();
  await payee.getByRole("link", { name: "Accept" }).click();
  await payee.getByRole("textbox", { name: "Payment note" }).fill(noteText);
  await payee.getByRole("button", { name: "Accept" }).click();
  await payee.getByRole("heading", { name: "Payment successful" }).waitFor();
  return noteText;
}

/**
 * Calls the app's offline wallet pay() for `handle` in `page` directly (no Pay form) with the
 * payment request `requestText`; returns "paid", "repeated" (a request this device already paid:
 * its earlier note, nothing signed), or "code: reason" of the refusal it throws.
 */
export function payDirectly(page, handle, requestText) {
  return page.evaluate(async ([h, text]) => {
    const w = await import("/js/offline/wallet.js");
    const req = await w.readRequest(text);
    try {
      const { repeated } = await w.pay(h, req);
      return repeated ? "repeated" : "paid";
    } catch (e) {
      return `${e.code}: ${e.reason}`;
    }
  }, [handle, requestText]);
}
