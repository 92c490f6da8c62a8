// Payment note (#/note?id=<note hash>): shows again a note this device paid, as the Pay screen
// shows it (QR code, read-only field "Payment note", "Copy text"), so that a payee who did not
// get it can still scan it after a reload or "Done". Opened from the note's receipt. Also the
// note display the Pay screen itself uses (noteDisplay).

import { h, title } from "../ui.js";
import { qrFigure, copyButton } from "../qr.js";
import { get } from "../offline/db.js";
import { noteState } from "../offline/entries.js";

/** The QR code, the "Payment note" field and its buttons, for a note of `amount` (minor units). */
export function noteDisplay(app, amount, text, backHref = "#/home") {
  const out = h("textarea", { readonly: true, rows: "8", id: "payment-note", "aria-label": "Payment note" });
  out.value = text;
  return [
    qrFigure(text, `QR code of the payment note for ${app.money(amount)}`),
    h("label", { for: "payment-note" }, "Payment note"), out,
    h("div", { class: "actions" }, copyButton(out), h("a", { class: "button", href: backHref }, "Done")),
  ];
}

export async function render(app, params) {
  const hash = params.get("id") ?? "";
  const record = await get("sent", hash).catch(() => null);
  if (!record || record.handle !== app.session.handle) {
    return h("section", {}, title("Payment note not found"),
      h("p", {}, "This phone has no payment note with this id. Notes you paid are listed in your history."),
      h("a", { class: "button", href: "#/history" }, "History"));
  }
  const state = noteState(record, "payer");
  return h("section", {}, title("Payment note"),
    h("p", { "data-testid": "note-summary" }, `You paid ${app.money(record.amount)} to ${record.payee}. `,
      state.code === "settled"
        ? "This payment is settled: the payee does not need the note any more."
        : "Show this code to the payee, or send them the text. Showing it again pays nothing more."),
    h("p", { class: "hint" }, `Status: ${state.label}`),
    noteDisplay(app, record.amount, record.text, `#/receipt?id=${encodeURIComponent(`note:${hash}`)}`));
}
