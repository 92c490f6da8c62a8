// Receipt (#/receipt?id=note:<hash> | entry:<id>): one history entry — amount, from, to, time,
// status, note id and/or entry id, purse — with "Show QR code" (the receipt as plain text in a QR
// code, qr.js) and "Share receipt" (Web Share API; the button is left out where the browser has
// no navigator.share). A note this device paid and that has not settled also offers "Show payment
// note" (pages/note.js), so the payee can still get it.

import { h, title, errorLine } from "../ui.js";
import { qrFigure } from "../qr.js";
import { formatPlain } from "../money.js";
import { findEntry } from "../offline/history.js";
import { describe, parties, receiptText } from "../offline/entries.js";

export async function render(app, params) {
  const key = params.get("id") ?? "";
  let entry = null;
  let problem = null;
  try {
    entry = await findEntry(app, key);
  } catch (e) {
    app.handleError(e);
    problem = e.reason ?? e.message;
  }
  if (!entry) {
    return h("section", {}, title("Receipt not found"),
      h("p", {}, problem ?? (navigator.onLine
        ? "This payment is not in your history."
        : "This phone keeps receipts of offline payments only. Online payments can be opened when you are back online.")),
      h("a", { class: "button", href: "#/history" }, "History"));
  }
  const me = app.session.handle;
  const { from, to } = parties(entry, me);
  const offline = entry.source === "offline";
  const text = receiptText(entry, me, app.config.currency, (minor) => formatPlain(minor, app.config.decimals));
  const rows = [
    ["Amount", app.money(entry.amount)],
    ["From", from],
    ["To", to],
    ["Time", new Date(entry.timeMs).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" })],
    ["Status", offline ? entry.state.label : "Completed"],
    offline ? ["", entry.state.detail] : null,
    offline ? ["Note id", entry.noteHash] : null,
    entry.entryId != null ? ["Entry id", String(entry.entryId)] : null,
    offline ? ["Purse", entry.purseId] : null,
    entry.memo ? ["Message", entry.memo] : null,
  ].filter(Boolean);
  const list = h("dl", { class: "receipt", "data-testid": "receipt" },
    rows.map(([k, v]) => k ? [h("dt", {}, k), h("dd", { class: /id$|Purse/.test(k) ? "id" : null }, v)] : h("dd", { class: "hint" }, v)));

  const qrBox = h("div", { hidden: true });
  const qrButton = h("button", { type: "button", class: "secondary", "aria-expanded": "false", onclick: () => {
    const show = qrBox.hidden;
    if (show && !qrBox.firstChild) qrBox.append(qrFigure(text, "QR code of this receipt"));
    qrBox.hidden = !show;
    qrButton.textContent = show ? "Hide QR code" : "Show QR code";
    qrButton.setAttribute("aria-expanded", String(show));
  } }, "Show QR code");
  const err = errorLine();
  const share = typeof navigator.share === "function"
    ? h("button", { type: "button", class: "secondary", onclick: async () => {
      err.textContent = "";
      try {
        await navigator.share({ title: "offpay receipt", text });
      } catch (e) {
        if (e?.name !== "AbortError") err.textContent = "The receipt could not be shared. Show the QR code instead.";
      }
    } }, "Share receipt")
    : null;
  const reopen = offline && entry.role === "payer" && entry.state.code !== "settled"
    ? h("a", { class: "button", href: `#/note?id=${encodeURIComponent(entry.noteHash)}` }, "Show payment note")
    : null;
  return h("section", {}, title("Receipt"),
    h("p", { class: "lead" }, describe(entry)),
    reopen ? h("p", { class: "hint" }, "The payee has not been paid by the server yet. If they did not get the note, show it to them again.") : null,
    list,
    h("div", { class: "actions" }, reopen, qrButton, share, h("a", { class: "button secondary", href: "#/history" }, "History")),
    err, qrBox);
}
