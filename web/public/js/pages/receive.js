// Receive / Request: the payee types an amount and shows a signed payment request as a QR code
// and as text (read-only field "Payment request"); then Accept takes the payer's note.

import { parseMajor } from "../money.js";
import { offlineDisabled } from "./offline-off.js";
import { h, field, title, errorLine } from "../ui.js";
import { qrFigure, copyButton } from "../qr.js";
import { createRequest, REQUEST_TTL_S } from "../offline/wallet.js";

export function render(app) {
  if (!app.config.offline) return offlineDisabled("Receive");
  const section = h("section", {}, title("Receive"));
  const amount = field("Amount", { name: "amount", inputmode: "decimal", autocomplete: "off", required: true, placeholder: "0.00" });
  const err = errorLine(amount.input);
  const button = h("button", { type: "submit" }, "Request payment");
  const form = h("form", { onsubmit: async (e) => {
    e.preventDefault();
    err.textContent = "";
    const parsed = parseMajor(amount.input.value, app.config.decimals);
    if (!parsed.ok) { err.textContent = parsed.reason; return; }
    button.disabled = true;
    try {
      const { text } = await createRequest(app, parsed.minor);
      show(parsed.minor, text);
    } catch (e2) {
      err.textContent = e2.reason ?? e2.message;
      button.disabled = false;
    }
  } }, h("p", { class: "hint" }, "Works with no connection. Ask for an amount, let the payer scan the code, then accept their payment note."), amount.label, err, button);
  section.append(form);

  function show(minor, text) {
    const out = h("textarea", { readonly: true, rows: "6", "aria-label": "Payment request", id: "payment-request" });
    out.value = text;
    form.replaceWith(h("div", {},
      h("p", {}, "Ask the payer to scan this code or paste the text, for ", h("strong", {}, app.money(minor)), "."),
      qrFigure(text, `QR code of the payment request for ${app.money(minor)}`),
      h("label", { for: "payment-request" }, "Payment request"), out,
      h("p", { class: "hint" }, `Valid for ${REQUEST_TTL_S / 60} minutes.`),
      h("div", { class: "actions" }, copyButton(out), h("a", { class: "button", href: "#/accept" }, "Accept"))));
    section.querySelector("h1").textContent = "Payment request";
  }
  return section;
}
