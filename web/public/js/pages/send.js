// Send (online): to a handle, an amount, then a confirmation step. One idempotency key per
// confirmed payment, so a retried request never moves money twice.

import { api, newIdempotencyKey } from "../api.js";
import { parseMajor } from "../money.js";
import { h, field, title, errorLine } from "../ui.js";

export function render(app) {
  const section = h("section", {}, title("Send money"));
  if (!navigator.onLine) {
    section.append(h("p", { class: "offline-banner" }, "You are offline. Online transfers need a connection; use Pay to pay from your offline purse."),
      h("a", { class: "button", href: "#/pay" }, "Pay offline"));
    return section;
  }
  const to = field("To", { name: "to", autocomplete: "off", autocapitalize: "none", spellcheck: "false", required: true, placeholder: "username" });
  const amount = field("Amount", { name: "amount", inputmode: "decimal", autocomplete: "off", required: true, placeholder: "0.00" });
  const memo = field("Message (optional)", { name: "memo", maxlength: "140", autocomplete: "off" });
  const err = errorLine();
  const step = h("div");

  const form = h("form", { onsubmit: (e) => {
    e.preventDefault();
    err.textContent = "";
    const handle = to.input.value.trim().toLowerCase();
    const parsed = parseMajor(amount.input.value, app.config.decimals);
    if (!handle) { err.textContent = "Enter who to send to."; return; }
    if (!parsed.ok) { err.textContent = parsed.reason; return; }
    confirm(handle, parsed.minor, memo.input.value.trim());
  } }, to.label, amount.label, memo.label, err, h("button", { type: "submit" }, "Send"));
  step.append(form);
  section.append(step);

  function confirm(handle, minor, note) {
    const key = newIdempotencyKey();
    const cerr = errorLine();
    const yes = h("button", { type: "button", onclick: async () => {
      yes.disabled = true;
      cerr.textContent = "";
      try {
        const r = await api.transfer(app.session.token, key, handle, minor, note || undefined);
        app.me = { ...(app.me ?? {}), balance: r.balance };
        app.showResult({ ok: true, summary: `${app.money(minor)} sent to ${handle}. Your balance is now ${app.money(r.balance)}.` });
      } catch (e) {
        app.handleError(e);
        if (e.code === "network") { cerr.textContent = e.reason; yes.disabled = false; return; }
        app.showResult({ ok: false, reason: e.reason, summary: `${app.money(minor)} to ${handle} was not sent.`, retry: "#/send" });
      }
    } }, "Confirm");
    const back = h("button", { type: "button", class: "secondary", onclick: () => step.replaceChildren(form) }, "Cancel");
    step.replaceChildren(h("div", { class: "card", role: "group", "aria-label": "Confirm payment" },
      h("p", {}, "Send ", h("strong", {}, app.money(minor)), " to ", h("strong", {}, handle), "?"),
      note ? h("p", { class: "hint" }, `Message: ${note}`) : null,
      cerr, h("div", { class: "actions" }, yes, back)));
    yes.focus();
  }
  return section;
}
