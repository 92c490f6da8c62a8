// Sync status: what this device paid or accepted offline that has not settled yet (notes the
// server refused say why in words, with the code in small text), the payment codes refused at
// this shop's counter and given back to their payers (to return, returned, or not returned with
// the server's words), and "Sync now".

import { h, title, when, errorLine } from "../ui.js";
import { waiting } from "../offline/wallet.js";
import { allFor } from "../offline/db.js";
import { syncNow } from "../offline/sync.js";
import { serverRefusal, judgedAgain, SENT_AGAIN } from "../offline/refusals.js";
import { awaitsSending, refusalLine } from "../offline/counter-refusals.js";

/** How many given-back refusals Sync status lists (those still to return, or not returned, are all listed). */
const RETURNED_SHOWN = 20;

/** The codes refused at this counter, for Sync status: every pending or failed one, then the latest returned, newest first. */
async function counterRefusals(handle) {
  const all = (await allFor("refusals", handle)).sort((a, b) => b.refusedMs - a.refusedMs);
  const open = all.filter((r) => r.state !== "done");
  return { open, shown: [...open, ...all.filter((r) => r.state === "done").slice(0, RETURNED_SHOWN)] };
}

export async function render(app) {
  const w = await waiting(app.session.handle);
  const refusals = await counterRefusals(app.session.handle);
  const toReturn = refusals.open.filter(awaitsSending).length;
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
      status.textContent = `${r.settled} settled, ${r.remaining} still waiting${r.held ? ` (${r.held} held)` : ""}.`
        + (r.refusals.done ? ` ${r.refusals.done} given back to the payer.` : "");
      setTimeout(() => app.go("/sync"), 0);
    } catch (e) {
      app.handleError(e);
      err.textContent = e.reason ?? e.message;
      button.disabled = false;
    }
  } }, "Sync now");
  const count = w.sent.length + w.received.length;
  const summary = [count ? `${count} offline payment(s) waiting to settle.` : null,
    toReturn ? `${toReturn} payment(s) refused at the counter waiting to be given back.` : null].filter(Boolean);
  const refusalRow = (r) => {
    const line = refusalLine(r, (m) => app.money(m));
    return h("li", { "data-state": r.state },
      h("span", { class: "what" }, h("span", { class: r.state === "failed" ? "refused" : null }, line.text),
        line.code ? h("small", { class: "code" }, `Code: ${line.code}`) : null,
        h("span", { class: "when" }, `Refused at the counter ${when(r.refusedMs)}`)));
  };
  return h("section", {}, title("Sync status"),
    h("p", { "data-testid": "sync-summary" }, summary.length ? summary.join(" ") : "Everything is settled."),
    count ? h("ul", { class: "activity", "aria-label": "Waiting to settle" }, w.sent.map((n) => row(n, "out")), w.received.map((n) => row(n, "in"))) : null,
    refusals.shown.length ? [h("h2", {}, "Refused at the counter"),
      h("ul", { class: "activity", "aria-label": "Refused at the counter", "data-testid": "counter-refusals" }, refusals.shown.map(refusalRow))] : null,
    h("p", { class: "hint" }, `${w.settledSent + w.settledReceived} offline payment(s) settled on this device. Sync runs by itself when the connection returns.`),
    app.offlineOnly
      ? h("p", { class: "offline-banner" }, "You opened your offline purse with your PIN: syncing needs logging in online with your password.")
      : navigator.onLine ? null : h("p", { class: "offline-banner" }, "You are offline: sync waits for a connection."),
    status, err, button);
}
