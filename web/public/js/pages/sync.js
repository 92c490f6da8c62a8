// Sync status: what this device paid or accepted offline that has not settled yet (notes the
// server refused say why in words, with the code in small text), and "Sync now".

import { h, title, when, errorLine } from "../ui.js";
import { waiting } from "../offline/wallet.js";
import { syncNow } from "../offline/sync.js";
import { serverRefusal, judgedAgain, SENT_AGAIN } from "../offline/refusals.js";

export async function render(app) {
  const w = await waiting(app.session.handle);
  const err = errorLine();
  const status = h("p", { role: "status" });
  const refused = (code) => {
    const r = serverRefusal(code);
    const text = judgedAgain(r.code) ? `Not paid yet: ${r.sentence} ${SENT_AGAIN}` : `Refused by the server: ${r.sentence}`;
    return [h("span", { class: "refused" }, text), h("small", { class: "code" }, `Code: ${r.code}`)];
  };
  const held = (code) => {
    const r = serverRefusal(code);
    return [h("span", { class: "held" }, `Held by the server: ${r.sentence}`), h("small", { class: "code" }, `Code: ${r.code}`)];
  };
  const state = (n, dir) => {
    if (n.rejected) return refused(n.rejected);
    if (n.held) return held(n.held);
    return h("span", { class: "when" }, `Waiting since ${when(dir === "out" ? n.createdMs : n.acceptedMs)}`);
  };
  const row = (n, dir) => h("li", {},
    h("span", { class: "what" }, dir === "out" ? `Paid to ${n.payee}` : "Received offline", state(n, dir)),
    h("span", { class: dir === "out" ? "out" : "in" }, (dir === "out" ? "-" : "+") + app.money(n.amount)));
  const button = h("button", { type: "button", disabled: !navigator.onLine || app.offlineOnly, onclick: async () => {
    button.disabled = true;
    err.textContent = "";
    try {
      const r = await syncNow(app);
      status.textContent = `${r.settled} settled, ${r.remaining} still waiting${r.held ? ` (${r.held} held)` : ""}.`;
      setTimeout(() => app.go("/sync"), 0);
    } catch (e) {
      app.handleError(e);
      err.textContent = e.reason ?? e.message;
      button.disabled = false;
    }
  } }, "Sync now");
  const count = w.sent.length + w.received.length;
  return h("section", {}, title("Sync status"),
    h("p", { "data-testid": "sync-summary" }, count ? `${count} offline payment(s) waiting to settle.` : "Everything is settled."),
    count ? h("ul", { class: "activity", "aria-label": "Waiting to settle" }, w.sent.map((n) => row(n, "out")), w.received.map((n) => row(n, "in"))) : null,
    h("p", { class: "hint" }, `${w.settledSent + w.settledReceived} offline payment(s) settled on this device. Sync runs by itself when the connection returns.`),
    app.offlineOnly
      ? h("p", { class: "offline-banner" }, "You opened your offline purse with your PIN: syncing needs logging in online with your password.")
      : navigator.onLine ? null : h("p", { class: "offline-banner" }, "You are offline: sync waits for a connection."),
    status, err, button);
}
