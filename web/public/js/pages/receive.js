// Receive / Request: the payee types an amount and shows a signed payment request as a QR code
// and as text (read-only field "Payment request"); then Accept takes the payer's note. Requests
// are stored before they are shown, so they survive a reload: the page lists the open ones
// (unpaid, unexpired) under "Open requests", and #/receive?request=<nonce> shows one again (the
// address a new request is shown at, so a reload shows it again too).

import { parseMajor } from "../money.js";
import { offlineDisabled } from "./offline-off.js";
import { h, field, title, errorLine } from "../ui.js";
import { qrFigure, copyButton } from "../qr.js";
import { createRequest, nowSeconds } from "../offline/wallet.js";
import { openRequests, requestOf } from "../offline/history.js";
import { hex } from "../protocol/crypto.js";

const until = (secs) => new Date(secs * 1000).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
const requestHref = (nonce) => `#/receive?request=${nonce}`;

export async function render(app, params) {
  if (!app.config.offline) return offlineDisabled("Receive");
  const handle = app.session.handle;
  const section = h("section", {}, title("Receive"));

  const wanted = params?.get("request");
  if (wanted) {
    const r = await requestOf(handle, wanted);
    if (r && r.status === "open" && r.expiresAt > Number(nowSeconds())) {
      section.append(requestView(r.amount, r.text, r.expiresAt));
      section.querySelector("h1").textContent = "Payment request";
      return section;
    }
    section.append(h("p", { role: "status", "data-testid": "request-gone" }, !r
      ? "This payment request is not on this phone."
      : r.status !== "open"
        ? `This request for ${app.money(r.amount)} has been paid. The payment is in your history.`
        : `This request for ${app.money(r.amount)} has expired. Make a new one below.`));
  }

  const amount = field("Amount", { name: "amount", inputmode: "decimal", autocomplete: "off", required: true, placeholder: "0.00" });
  const err = errorLine(amount.input);
  const button = h("button", { type: "submit" }, "Request payment");
  const form = h("form", { onsubmit: async (e) => {
    e.preventDefault();
    err.textContent = "";
    const parsed = parseMajor(amount.input.value, app.config.decimals);
    if (!parsed.ok) { err.textContent = parsed.reason; amount.input.focus(); return; }
    // No payer's purse can pay more than the per-payment cap in one note: say so before asking.
    const cap = app.config.offline?.per_payment_cap;
    if (Number.isSafeInteger(cap) && parsed.minor > cap) {
      err.textContent = `One offline payment can be at most ${app.money(cap)}. Ask for ${app.money(cap)} or less, or ask to be paid online with Send.`;
      amount.input.focus();
      return;
    }
    button.disabled = true;
    try {
      const { request, text } = await createRequest(app, parsed.minor);
      // The request is stored: its own address shows it again after a reload.
      history.replaceState(null, "", requestHref(hex(request.nonce)));
      section.replaceChildren(title("Payment request"), requestView(parsed.minor, text, Number(request.expiresAt)));
      section.querySelector("h1").focus();
    } catch (e2) {
      err.textContent = e2.reason ?? e2.message;
      button.disabled = false;
    }
  } }, h("p", { class: "hint" }, "Works with no connection. Ask for an amount, let the payer scan the code, then accept their payment note."), amount.label, err, button);
  section.append(form);

  const open = await openRequests(handle).catch(() => []);
  if (open.length) {
    section.append(h("h2", { id: "open-requests" }, "Open requests"),
      h("p", { class: "hint" }, "Requests not paid yet. Show one again for the payer to scan."),
      h("ul", { class: "activity", "aria-labelledby": "open-requests" }, open.map((r) => h("li", {},
        h("span", { class: "what" },
          h("a", { href: requestHref(r.nonce) }, `Show request for ${app.money(r.amount)}`),
          h("span", { class: "when" }, `Valid until ${until(r.expiresAt)}`)),
        h("span", { class: "in" }, app.money(r.amount))))));
  }

  function requestView(minor, text, expiresAt) {
    const out = h("textarea", { readonly: true, rows: "6", "aria-label": "Payment request", id: "payment-request" });
    out.value = text;
    return h("div", {},
      h("p", {}, "Ask the payer to scan this code or paste the text, for ", h("strong", {}, app.money(minor)), "."),
      qrFigure(text, `QR code of the payment request for ${app.money(minor)}`),
      h("label", { for: "payment-request" }, "Payment request"), out,
      h("p", { class: "hint" }, `Valid until ${until(expiresAt)}. It stays on this phone until then: you can show it again from Receive.`),
      h("div", { class: "actions" }, copyButton(out), h("a", { class: "button", href: "#/accept" }, "Accept"),
        h("a", { class: "button secondary", href: "#/receive" }, "New request")));
  }
  return section;
}
