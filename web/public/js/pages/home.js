// Home: balance, offline balance, recent activity (online and offline, each opening its receipt),
// and the way to every other page.

import { h, title } from "../ui.js";
import { loadMerged } from "../offline/history.js";
import { offlineBalance } from "../offline/wallet.js";
import { activityList } from "./activity.js";
import { pendingIntents } from "../intents.js";

/** A notice for each send or purse load whose answer was lost (../intents.js), or null. */
async function unfinishedNotice(handle) {
  const [sends, loads] = await Promise.all([pendingIntents(handle, "send"), pendingIntents(handle, "load")]).catch(() => [[], []]);
  if (!sends.length && !loads.length) return null;
  return h("div", { class: "card", role: "status", "data-testid": "unfinished-notice" },
    sends.length ? h("p", {}, "A payment you sent did not get an answer. ", h("a", { href: "#/send" }, "Check and finish it")) : null,
    loads.length ? h("p", {}, "Loading your offline purse did not get an answer. ", h("a", { href: "#/purse" }, "Finish loading")) : null);
}

export async function render(app) {
  const [me, offline, recent, unfinished] = await Promise.all([
    app.refreshMe(),
    offlineBalance(app.session.handle),
    // The last five entries, online and offline (a settled offline note is listed once).
    loadMerged(app, [], { limit: 5 }).then((r) => {
      if (r.error) app.handleError(r.error);
      return { entries: r.entries.slice(0, 5), error: r.error };
    }),
    unfinishedNotice(app.session.handle),
  ]);
  const balance = me ? app.money(me.balance) : "—";
  return h("section", {},
    title("Home"),
    me?.frozen ? h("p", { class: "error", role: "alert" }, "Your account is frozen. Contact the operator.") : null,
    unfinished,
    h("div", { class: "row" },
      h("div", { class: "card" },
        h("span", { class: "label", id: "balance-label" }, "Balance"),
        h("output", { class: "amount-big", "aria-labelledby": "balance-label", "data-testid": "balance" }, balance)),
      h("div", { class: "card" },
        h("span", { class: "label", id: "offline-balance-label" }, "Offline balance"),
        h("output", { class: "amount-big", "aria-labelledby": "offline-balance-label", "data-testid": "offline-balance" }, app.money(offline))),
    ),
    h("nav", { class: "actions", "aria-label": "Actions" },
      h("a", { class: "button", href: "#/send" }, "Send"),
      h("a", { class: "button", href: "#/receive" }, "Receive"),
      h("a", { class: "button", href: "#/pay" }, "Pay"),
      h("a", { class: "button secondary", href: "#/purse" }, "Load offline purse"),
      h("a", { class: "button secondary", href: "#/history" }, "History"),
      h("a", { class: "button secondary", href: "#/sync" }, "Sync status"),
      h("a", { class: "button secondary", href: "#/shop" }, "Shop mode"),
      h("a", { class: "button secondary", href: "#/shop/card" }, "Shop card"),
      h("a", { class: "button secondary", href: "#/account" }, "Account security"),
    ),
    h("h2", {}, "Recent activity"),
    recent.error ? h("p", { class: "hint" }, "Online activity could not be loaded. Offline payments on this phone are listed.") : null,
    activityList(app, recent.entries),
  );
}
