// Send (online): to a handle, an amount, then a confirmation step. Confirming writes the payment
// as an intent with a new idempotency key before it is sent (../intents.js); a payment whose
// answer was lost is shown here with "Check and finish" (same key, so it moves money at most once)
// and must be finished before another send starts: checked when the page is drawn and again, in
// the transaction that writes the new intent, on Confirm (another tab may have started a send
// meanwhile). With a wallet PIN set on this device, the confirm step asks for it, and the intent
// is written only once it is right (pages/pin.js).

import { api } from "../api.js";
import { beginSend, pendingIntents, runIntent, UnansweredSendError } from "../intents.js";
import { parseMajor } from "../money.js";
import { h, field, title, errorLine } from "../ui.js";
import { hasPin, pinField, pinIsRight } from "./pin.js";

export async function render(app) {
  const section = h("section", {}, title("Send money"));
  if (!navigator.onLine) {
    section.append(h("p", { class: "offline-banner" }, "You are offline. Online transfers need a connection; use Pay to pay from your offline purse."),
      h("a", { class: "button", href: "#/pay" }, "Pay offline"));
    return section;
  }
  const to = field("To", { name: "to", autocomplete: "off", autocapitalize: "none", spellcheck: "false", required: true, placeholder: "username" });
  const amount = field("Amount", { name: "amount", inputmode: "decimal", autocomplete: "off", required: true, placeholder: "0.00" });
  const memo = field("Message (optional)", { name: "memo", maxlength: "140", autocomplete: "off" });
  const toErr = errorLine(to.input);
  const amountErr = errorLine(amount.input);
  const step = h("div");

  /** Sends (or finishes) `intent`; shows the outcome, or keeps the step open on a lost answer. */
  async function send(intent, button, line) {
    const { to: handle, amount: minor, memo: note, toAccount, card } = intent.body;
    button.disabled = true;
    line.textContent = "";
    try {
      // toAccount: set by a shop card payment (pages/pay-card.js), so that finishing it is checked the same way.
      const r = await runIntent(intent, (key) => api.transfer(app.session.token, key, handle, minor, note || undefined, toAccount, card));
      app.me = { ...(app.me ?? {}), balance: r.balance };
      const earlier = r.transfer?.replayed ? " It had already been sent before the connection was lost; it was not sent twice." : "";
      app.showResult({ ok: true, summary: `${app.money(minor)} sent to ${handle}. Your balance is now ${app.money(r.balance)}.${earlier}` });
    } catch (e) {
      app.handleError(e);
      // The session ended (401): the login page is shown; the intent stays for the next login.
      if (!app.session) return;
      const pending = (await pendingIntents(app.session.handle, "send")).some((i) => i.key === intent.key);
      if (pending) {
        showUnfinished(intent, e.reason);
        return;
      }
      app.showResult({ ok: false, reason: e.reason, summary: `${app.money(minor)} to ${handle} was not sent.`, retry: "#/send" });
    }
  }

  /** A send whose outcome is not known: the only way on is to finish it. */
  function showUnfinished(intent, reason = "") {
    const { to: handle, amount: minor } = intent.body;
    const line = errorLine();
    line.textContent = reason;
    const again = h("button", { type: "button", onclick: () => send(intent, again, line) }, "Check and finish");
    step.replaceChildren(h("div", { class: "card", role: "group", "aria-label": "Unfinished payment", "data-testid": "unfinished-send" },
      h("p", {}, "Sending ", h("strong", {}, app.money(minor)), " to ", h("strong", {}, handle), " did not get an answer from the server. It may have been sent."),
      h("p", { class: "hint" }, "Check and finish it before sending again: it is sent at most once."),
      line, h("div", { class: "actions" }, again)));
    again.focus();
  }

  const form = h("form", { onsubmit: (e) => {
    e.preventDefault();
    toErr.textContent = "";
    amountErr.textContent = "";
    const handle = to.input.value.trim().toLowerCase();
    const parsed = parseMajor(amount.input.value, app.config.decimals);
    if (!handle) { toErr.textContent = "Enter who to send to."; to.input.focus(); return; }
    if (!parsed.ok) { amountErr.textContent = parsed.reason; amount.input.focus(); return; }
    confirm(handle, parsed.minor, memo.input.value.trim());
  } }, to.label, toErr, amount.label, amountErr, memo.label, h("button", { type: "submit" }, "Send"));
  step.append(form);
  section.append(step);


  async function confirm(handle, minor, note) {
    const pin = (await hasPin(app)) ? pinField() : null;
    const cerr = errorLine(...(pin ? [pin.input] : []));
    const yes = h("button", { type: "submit" }, "Confirm");
    const confirmForm = h("form", { onsubmit: async (e) => {
      e.preventDefault();
      yes.disabled = true;
      // The PIN first: with a wrong one nothing is written or sent.
      if (pin && !(await pinIsRight(app, pin.input, cerr))) { yes.disabled = false; return; }
      let intent;
      try {
        // Any send with no answer blocks a new one (even to someone else): it is shown instead.
        intent = await beginSend(app.session.handle, { to: handle, amount: minor, memo: note || null }, () => true);
      } catch (e2) {
        if (e2 instanceof UnansweredSendError) { showUnfinished(e2.intent); return; }
        throw e2;
      }
      await send(intent, yes, cerr);
    } }, pin?.label, cerr, h("div", { class: "actions" }, yes,
      h("button", { type: "button", class: "secondary", onclick: () => step.replaceChildren(form) }, "Cancel")));
    step.replaceChildren(h("div", { class: "card", role: "group", "aria-label": "Confirm payment" },
      h("p", {}, "Send ", h("strong", {}, app.money(minor)), " to ", h("strong", {}, handle), "?"),
      note ? h("p", { class: "hint" }, `Message: ${note}`) : null,
      confirmForm));
    (pin?.input ?? yes).focus();
  }
  const unfinished = (await pendingIntents(app.session.handle, "send"))[0];
  if (unfinished) showUnfinished(unfinished);
  return section;
}
