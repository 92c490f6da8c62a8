// The list of history items, shared by Home (recent activity) and History.

import { h, when } from "../ui.js";

function describe(item) {
  if (item.kind === "deposit") return "Deposit";
  if (item.kind === "offline_settlement" || item.kind === "offline") {
    return item.delta >= 0 ? `Offline payment from ${item.counterparty ?? "someone"}` : `Offline payment to ${item.counterparty ?? "someone"}`;
  }
  if (item.kind === "purse_load") return "Loaded offline purse";
  if (item.kind === "purse_return") return "Offline purse returned";
  if (item.delta >= 0) return `From ${item.counterparty ?? "someone"}`;
  return `To ${item.counterparty ?? "someone"}`;
}

export function activityList(app, items) {
  if (!items.length) return h("p", { class: "hint" }, "No activity yet.");
  return h("ul", { class: "activity", "aria-label": "Activity" },
    items.map((it) => h("li", {},
      h("span", { class: "what" }, describe(it),
        it.memo ? h("span", { class: "when" }, it.memo) : null,
        h("span", { class: "when" }, when(it.created_at_ms))),
      h("span", { class: it.delta >= 0 ? "in" : "out" }, (it.delta >= 0 ? "+" : "") + app.money(it.delta)),
    )));
}
