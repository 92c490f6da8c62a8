// The list of history entries, shared by Home (recent activity) and History: the server's online
// entries and this device's offline notes, merged (offline/entries.js). Each entry's title is a
// link to its receipt (#/receipt); an offline note also says its state and the purse it used.

import { h, when } from "../ui.js";
import { describe } from "../offline/entries.js";

function sign(e) {
  return e.dir === "in" ? "+" : "-";
}

function row(app, e) {
  const offline = e.source === "offline";
  const state = offline
    ? h("span", { class: e.state.code === "refused" ? "refused" : e.state.code === "held" ? "held" : "when", "data-state": e.state.code }, e.state.label)
    : null;
  return h("li", { dataset: { key: e.key } },
    h("span", { class: "what" },
      h("a", { href: `#/receipt?id=${encodeURIComponent(e.key)}` }, describe(e)),
      e.memo ? h("span", { class: "when" }, e.memo) : null,
      state,
      offline && e.role === "payer" ? h("span", { class: "when" }, `From your offline purse ${e.purseId.slice(0, 8)}`) : null,
      offline && e.role === "payee" ? h("span", { class: "when" }, `Offline purse ${e.purseId.slice(0, 8)}`) : null,
      h("span", { class: "when" }, when(e.timeMs))),
    h("span", { class: e.dir === "in" ? "in" : "out" }, sign(e) + app.money(e.amount)));
}

/** The entries as a list ("Activity"), or a line saying there are none. */
export function activityList(app, entries) {
  if (!entries.length) return h("p", { class: "hint" }, "No activity yet.");
  return h("ul", { class: "activity", "aria-label": "Activity" }, entries.map((e) => row(app, e)));
}
