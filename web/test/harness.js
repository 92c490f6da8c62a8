// Test harness for the browser tests: starts the real `offpay serve` binary on a free port with a
// temporary --data folder, runs `offpay admin deposit`, and launches Debian's Chromium through
// playwright-core (never a downloaded browser).
import { spawn, execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, mkdirSync } from "node:fs";
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

/** Starts `offpay serve`; returns {url, dataDir, log, deposit, stop}. `url` serves the web app and the API. */
export async function startOffpay() {
  const bin = offpayBin();
  const dataDir = mkdtempSync(join(tmpdir(), "offpay-web-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let out = "";
  const child = spawn(bin, ["serve", "--listen", `127.0.0.1:${port}`, "--data", dataDir], {
    stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" },
  });
  child.stdout.on("data", (d) => { out += d; });
  child.stderr.on("data", (d) => { out += d; });
  await waitHealthy(url, child, () => out);
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

export const textOf = (page, testId) => page.getByTestId(testId).textContent();

/** Waits until the element at `selector` contains `text`. */
export function waitText(page, selector, text) {
  return page.waitForFunction(([s, t]) => document.querySelector(s)?.textContent?.includes(t), [selector, text]);
}
