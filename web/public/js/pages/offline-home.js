// Offline home: shown whenever the device is offline. Offline balance, Pay, Receive, History (this
// device's offline payments) and Sync status (and, when it is visited online with a purse open,
// "Close offline purse").

import { h, title } from "../ui.js";
import { isFull, offlineBalance, openPurses, waiting, PURSE_FULL } from "../offline/wallet.js";
import { closablePurses } from "../offline/close.js";
import * as session from "../session.js";

/** In an offline-only session (opened with the PIN): what it is, and the way to log in online. */
function pinSession(app) {
  if (!app.offlineOnly) return null;
  if (!navigator.onLine) {
    return h("p", { class: "hint", "data-testid": "pin-session" }, "Opened with your PIN. Sending money, loading a purse and settling need logging in online.");
  }
  const button = h("button", { type: "button", onclick: () => app.loginAgain("Enter your password to log in. Your offline payments settle once you are logged in.") }, "Log in with password");
  return h("div", { class: "card", role: "group", "aria-label": "Back online", "data-testid": "pin-session" },
    h("p", {}, "You are back online. Log in with your password to settle your offline payments."),
    h("div", { class: "actions" }, button));
}

export async function render(app) {
  const handle = app.session.handle;
  const [offline, w, closable, open] = await Promise.all([offlineBalance(handle), waiting(handle), closablePurses(handle), openPurses(handle)]);
  // Money left only in purses that have made their last payment: say so before a payment fails.
  const withMoney = open.filter((p) => p.amount > p.spent);
  const full = withMoney.length > 0 && withMoney.every(isFull);
  const cached = app.me ?? session.cachedMe(handle);
  const count = w.sent.length + w.received.length;
  return h("section", {},
    title("Offline"),
    h("p", { class: "offline-banner" },
      navigator.onLine ? "This is your offline wallet." : "You are offline. You can still pay and receive from your offline purse; everything settles when you are back online."),
    pinSession(app),
    h("div", { class: "card" },
      h("span", { class: "label", id: "offline-balance-label" }, "Offline balance"),
      h("output", { class: "amount-big", "aria-labelledby": "offline-balance-label", "data-testid": "offline-balance" }, app.money(offline))),
    full ? h("p", { class: "hint", role: "status", "data-testid": "purse-full" }, PURSE_FULL) : null,
    cached ? h("p", { class: "hint" }, `Last known online balance: ${app.money(cached.balance)}`) : null,
    h("nav", { class: "actions", "aria-label": "Offline actions" },
      h("a", { class: "button", href: "#/pay" }, "Pay"),
      h("a", { class: "button", href: "#/receive" }, "Receive"),
      h("a", { class: "button secondary", href: "#/history" }, "History"),
      h("a", { class: "button secondary", href: "#/sync" }, "Sync status"),
      h("a", { class: "button secondary", href: "#/shop" }, "Shop mode"),
      navigator.onLine && !app.offlineOnly && closable.length ? h("a", { class: "button secondary", href: "#/close" }, "Close offline purse") : null,
    ),
    h("p", { class: "hint" }, count ? `${count} offline payment(s) waiting to settle.` : "Nothing is waiting to settle."),
  );
}
