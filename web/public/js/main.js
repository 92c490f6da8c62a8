// The app: state, hash router, online/offline tracking and live events (loaded by start.js,
// which registers the service worker first).
// Each page is a module in pages/ exporting `render(app, params)` that returns a DOM node.

import { api, ApiError, SERVER_ANSWERED } from "./api.js";
import { Live } from "./live.js";
import { formatMoney } from "./money.js";
import * as session from "./session.js";
import { notice } from "./ui.js";
import { autoSync, markSettled } from "./offline/sync.js";
import { refusalsSynced } from "./offline/counter-refusals.js";
import { refreshKeys } from "./offline/wallet.js";
import { isMyCounter, markPaymentReceived } from "./offline/shop.js";
import { forgetUnlock, rememberUnlock, resetWrong } from "./offline/pin.js";
import { DB_BLOCKED, DB_CLOSED } from "./offline/db.js";

import * as login from "./pages/login.js";
import * as home from "./pages/home.js";
import * as offlineHome from "./pages/offline-home.js";
import * as send from "./pages/send.js";
import * as history from "./pages/history.js";
import * as result from "./pages/result.js";
import * as receive from "./pages/receive.js";
import * as pay from "./pages/pay.js";
import * as accept from "./pages/accept.js";
import * as purse from "./pages/purse.js";
import * as closePurse from "./pages/close.js";
import * as syncPage from "./pages/sync.js";
import * as logoutPage from "./pages/logout.js";
import * as account from "./pages/account.js";
import * as receipt from "./pages/receipt.js";
import * as note from "./pages/note.js";
import * as needsLogin from "./pages/needs-login.js";
import * as shopCard from "./pages/shop-card.js";
import * as shop from "./pages/shop.js";
import { announce, forgetAnnouncements, paymentArrived } from "./shop-feed.js";

const ROUTES = {
  "/login": login, "/home": home, "/offline": offlineHome, "/send": send, "/history": history,
  "/result": result, "/receive": receive, "/pay": pay, "/accept": accept, "/purse": purse, "/close": closePurse,
  "/sync": syncPage, "/logout": logoutPage, "/account": account, "/receipt": receipt, "/note": note,
  "/shop/card": shopCard, "/shop": shop,
};
/** Pages that re-render when a live event changes the balance or history. */
const LIVE_PAGES = new Set(["/home", "/history", "/offline", "/sync", "/receipt"]);
/**
 * What an offline-only session (opened with the wallet PIN, no server token: app.unlockOffline)
 * can show; every other page says it needs logging in online (pages/needs-login.js).
 */
const OFFLINE_ONLY_PAGES = new Set(["/offline", "/pay", "/receive", "/accept", "/history", "/receipt", "/note", "/sync", "/result", "/logout", "/shop", "/shop/card"]);

/** A `money_in` event older than this (caught up after a reconnect) is not announced in shop mode. */
const ANNOUNCE_WITHIN_MS = 120_000;

const app = {
  session: session.loadSession(),
  config: session.loadConfig(),
  me: null,
  reachable: true,
  result: null,
  route: "",

  get online() { return navigator.onLine && this.reachable; },
  /** True in a session opened offline with the PIN: it has no server token. */
  get offlineOnly() { return Boolean(this.session?.offlineOnly); },
  money(minor) { return formatMoney(minor, this.config.currency, this.config.decimals); },
  go(route) {
    if (location.hash === `#${route}`) render();
    else location.hash = `#${route}`;
  },
  showResult(r) { this.result = r; this.go("/result"); },
  /**
   * Forgets what is kept in memory for the person logged in (the history entries behind receipts,
   * the last outcome, Shop mode's announcements), at every login and logout: the next person in
   * this tab sees none of it.
   */
  forgetPerson() {
    this.entries = null;
    this.result = null;
    forgetAnnouncements();
  },
  onSynced(r) {
    const said = [];
    if (r.settled) said.push(`${r.settled} offline payment(s) settled.`);
    // A code the server found no valid payment is said apart: it was never paid, so nothing is to give back.
    said.push(...refusalsSynced(r.refusals));
    notice(said.join(" "));
    if (LIVE_PAGES.has(this.route)) render(false);
  },

  /** Refreshes the balance from the server (when online); keeps the cached one otherwise. */
  async refreshMe() {
    if (!this.session) return null;
    if (!navigator.onLine || this.offlineOnly) return this.me ?? session.cachedMe(this.session.handle);
    try {
      this.me = await api.me(this.session.token);
      this.setReachable(true);
      session.saveMe(this.session.handle, this.me);
    } catch (e) {
      this.handleError(e);
      this.me = this.me ?? session.cachedMe(this.session.handle);
    }
    return this.me;
  },

  /** Common error handling: an ended session goes to login, a network error marks us offline. */
  handleError(e) {
    // An offline-only session has no token to end: pages say what needs logging in online.
    if (this.offlineOnly && e instanceof ApiError && e.status === 401) return;
    if (e instanceof ApiError && e.status === 401 && e.code === "unauthorized") {
      this.logout(false, "Your session has ended. Please log in again.");
    } else if (e instanceof ApiError && e.code === "network") {
      this.setReachable(false);
    }
  },

  setReachable(ok) {
    if (this.reachable === ok) return;
    this.reachable = ok;
    updateNet();
  },

  async login(s) {
    session.saveSession(s);
    this.session = s;
    this.me = null;
    this.forgetPerson();
    this.loginHandle = "";
    this.loginMessage = "";
    // The password was right: wrong PINs before it no longer count, and the offline-unlock marker
    // goes until the next logout.
    await Promise.all([resetWrong(s.handle), forgetUnlock()]).catch(() => {});
    live.start();
    updateHeader();
    autoSync(this);
    this.go("/home");
  },

  /**
   * Opens the offline wallet of `handle` after its PIN was checked (pages/unlock.js): a session
   * kept in memory only, with no server token, so it cannot reach the server.
   */
  async unlockOffline(handle) {
    this.session = { handle, token: null, offlineOnly: true };
    this.me = null;
    this.forgetPerson();
    this.loginMessage = "";
    updateHeader();
    this.go("/offline");
  },

  /** Back online in an offline-only session: the login page asks for this user's password. */
  loginAgain(message = "") {
    const handle = this.session?.handle ?? "";
    this.session = null;
    this.me = null;
    this.forgetPerson();
    updateHeader();
    this.loginHandle = handle;
    this.loginMessage = message;
    this.go("/login");
  },

  async logout(callServer = true, message = "") {
    const s = this.session;
    live.stop();
    session.clearSession();
    this.session = null;
    this.me = null;
    this.forgetPerson();
    updateHeader();
    // With a wallet PIN on this device, its offline purse can be opened again with no server. The
    // login page's unlock card waits for this write; logout itself does not, so that a logout
    // without the server call stays synchronous: when "Log out on every device" and the live
    // connection it closes both log out, the later one's message is the one shown.
    if (s) this.unlockRemembered = rememberUnlock(s.handle).catch(() => {});
    if (callServer && s?.token && navigator.onLine) {
      try { await api.logout(s.token); } catch { /* the session ends locally either way */ }
    }
    this.loginMessage = message;
    this.go("/login");
  },
};

const live = new Live({
  session: () => app.session,
  getSeq: session.lastSeq,
  setSeq: session.saveSeq,
  onState: (state) => { if (state === "open") app.setReachable(true); },
  onAuthFailed: () => app.logout(false, "Your session has ended. Please log in again."),
  onEvent: (ev) => {
    const p = ev.payload ?? {};
    if (app.session && Number.isSafeInteger(p.balance)) {
      app.me = { ...(app.me ?? session.cachedMe(app.session.handle) ?? {}), balance: p.balance };
      session.saveMe(app.session.handle, app.me);
    }
    if (ev.kind === "money_in") {
      notice(`${app.money(p.amount)} received from ${p.from}.`);
      // Shop mode announces payments as they arrive, not the ones caught up after a reconnect, and
      // only those made at this counter (the event names the card paid): another counter's payment
      // announced here too could be claimed by a second customer for the same money.
      if (app.session && Number.isSafeInteger(p.amount) && Math.abs(Date.now() - (ev.created_at_ms ?? 0)) < ANNOUNCE_WITHIN_MS) {
        const handle = app.session.handle;
        isMyCounter(handle, p.card)
          .then(async (mine) => {
            if (!mine) return paymentArrived();
            // Announced here: its receipt, shown at this counter afterwards, is refused (taken once).
            // One recorded before (taken from its receipt, maybe before a reload) is not announced again.
            const isNew = Number.isSafeInteger(p.entry_id) ? await markPaymentReceived(handle, p.entry_id) : true;
            if (isNew) announce(app, { amount: p.amount, from: p.from, entryId: p.entry_id ?? null });
          })
          .catch(() => {});
      }
    }
    else if (ev.kind === "deposit") notice(`${app.money(p.amount)} was added to your balance.`);
    else if (ev.kind === "offline_in") notice(offlineInNotice(p));
    else if (ev.kind === "offline_out") notice(offlineOutNotice(p));
    else if (ev.kind === "purse_returned") notice(`${app.money(p.amount)} returned from an offline purse.`);
    else if (ev.kind === "account_frozen") notice("Your account has been frozen.");
    if (ev.kind === "offline_in" || ev.kind === "offline_out") {
      for (const n of Array.isArray(p.notes) ? p.notes : []) markSettled(app, n?.note, ev.kind === "offline_in" ? n?.from : n?.to);
    }
    if (LIVE_PAGES.has(app.route)) render(false);
  },
});

/** One event per sync upload: it lists every note settled in it (docs/API-OFFLINE.md). */
function offlineInNotice(p) {
  const notes = Array.isArray(p.notes) ? p.notes : [];
  if (notes.length === 1) return `${app.money(p.amount)} from ${notes[0].from} settled (offline payment).`;
  return `${notes.length} offline payments settled: ${app.money(p.amount)} received.`;
}

function offlineOutNotice(p) {
  const notes = Array.isArray(p.notes) ? p.notes : [];
  if (notes.length === 1) return `Your offline payment of ${app.money(p.amount)} to ${notes[0].to} settled.`;
  return `${notes.length} of your offline payments settled: ${app.money(p.amount)} in total.`;
}

function updateNet() {
  const el = document.getElementById("net-status");
  const on = app.online;
  el.dataset.state = on ? "online" : "offline";
  el.textContent = on ? "Online" : "Offline";
}

function updateHeader() {
  document.getElementById("who").textContent = app.session ? `${app.session.handle}${app.offlineOnly ? " (offline)" : ""}` : "";
  document.getElementById("logout").hidden = !app.session;
}

let renderToken = 0;

async function render(focus = true) {
  const path = (location.hash.replace(/^#/, "").split("?")[0]) || "/home";
  const params = new URLSearchParams(location.hash.split("?")[1] ?? "");
  let route = ROUTES[path] ? path : "/home";
  if (!app.session && route !== "/login") route = "/login";
  if (app.session && route === "/login") route = "/home";
  if (route === "/home" && (!navigator.onLine || app.offlineOnly)) route = "/offline";
  const page = app.offlineOnly && !OFFLINE_ONLY_PAGES.has(route) ? needsLogin : ROUTES[route];
  app.route = route;
  const mine = ++renderToken;
  const view = document.getElementById("view");
  let node;
  try {
    node = await page.render(app, params);
  } catch (e) {
    console.warn("page failed", e);
    node = document.createTextNode("This page could not be shown.");
  }
  if (mine !== renderToken) return; // a newer navigation won
  view.replaceChildren(node);
  document.title = `${view.querySelector("h1")?.textContent ?? "offpay"} · offpay`;
  if (focus) view.querySelector("h1")?.focus();
}

window.addEventListener("hashchange", () => render());
window.addEventListener("online", () => {
  app.reachable = true;
  updateNet();
  live.kick();
  autoSync(app);
  if (app.offlineOnly) {
    // The offline-only session has no token: settling needs the password (the offline home asks).
    notice("You are back online. Log in with your password to settle your offline payments.");
    if (app.route === "/offline") render(false);
    return;
  }
  if (app.route === "/offline" || app.route === "/home") app.go("/home");
});
// Any answer from the server means it is reachable again: the "Offline" indicator clears.
window.addEventListener(SERVER_ANSWERED, () => app.setReachable(true));
window.addEventListener("offline", () => {
  updateNet();
  if (app.route === "/home") render(false);
});
// The app's storage (offline/db.js): a newer version opened in another tab closed this tab's
// connection, or this tab's upgrade waits for an older tab to close.
window.addEventListener(DB_CLOSED, () => notice("offpay was updated in another tab. Reload this page to go on using it."));
window.addEventListener(DB_BLOCKED, () => notice("offpay is being updated. Close offpay in your other tabs and windows to finish."));
// Log out goes through pages/logout.js, which warns first when offline money or unsettled payments
// would wait on this device.
document.getElementById("logout").addEventListener("click", () => app.go("/logout"));

async function boot() {
  updateNet();
  updateHeader();
  if (navigator.onLine) {
    api.config().then((c) => {
      app.config = c;
      session.saveConfig(c);
      // Offline payments need the server's offline endpoints (docs/API-OFFLINE.md).
      if (c.offline) refreshKeys().catch(() => {});
    }).catch(() => {});
  }
  if (app.session) {
    live.start();
    autoSync(app);
  }
  await render();
  document.documentElement.dataset.ready = "1";
}

boot();
