// Pay (offline): scan or paste the payee's payment request, confirm, and get a signed payment note
// (stored first) to show as a QR code and as text (read-only field "Payment note"). A request
// made out to the user's own account is refused on the form, before anything is signed. A request
// this device already paid is not paid again: with no confirmation, the page shows the earlier
// note under "Already paid" (offline/paid-once.js). A request whose payee an online send with no
// answer may have paid already is refused on the form (offline/shop.js, sentOnlineTo). The
// confirm step names the payee by handle and account (docs/PROTOCOL.md section 8). With no open
// purse (none loaded, closed or expired) the page says so instead of showing the form. A note
// shown here can be shown again later from its receipt in History (pages/note.js). Paying asks
// for the wallet PIN on the confirm step, checked before anything is signed; with no PIN set on
// this device yet, the page asks to set one first (pages/pin.js).
// A shop card (`OPS1:`, docs/PROTOCOL.md 16) scanned or pasted here shows "Pay <shop name>" with
// Amount, the wallet PIN when set, and Confirm: online (and the card names a handle) it is an
// online transfer through the send path (../intents.js keeps it and its idempotency key first);
// offline it is a card note from the purse (offline/shop.js), shown as "Show this to the shop".

import { offlineDisabled } from "./offline-off.js";
import { h, title, errorLine } from "../ui.js";
import { scanner } from "../qr.js";
import { noteDisplay } from "./note.js";
import {
  readRequest, pay, paidBefore, offlineBalance, accountOf, openPurses, choosePurse, refuseWhileRequestSentOnline, NO_OPEN_PURSE,
} from "../offline/wallet.js";
import { alreadyPaid } from "../offline/paid-once.js";
import { hasPin, pinField, pinIsRight, setPinForm } from "./pin.js";
import { cardForm, unfinishedCard } from "./pay-card.js";
import { isCardText } from "../offline/shop.js";

export async function render(app) {
  if (!app.config.offline) return offlineDisabled("Pay");
  const offline = await offlineBalance(app.session.handle);
  const section = h("section", {}, title("Pay"));
  const hasPurse = (await openPurses(app.session.handle)).length > 0;
  // Online, a shop card can still be paid with no purse (an online transfer).
  const cardsOnly = !hasPurse && app.online && !app.offlineOnly;
  const noPurse = h("div", {});
  if (!hasPurse) {
    noPurse.append(h("p", { role: "status", "data-testid": "no-purse" }, NO_OPEN_PURSE),
      h("div", { class: "actions" },
        navigator.onLine ? h("a", { class: "button", href: "#/purse" }, "Load offline purse") : null,
        h("a", { class: "button secondary", href: "#/home" }, "Back to home")));
    section.append(noPurse);
    if (!cardsOnly) return section;
    noPurse.append(h("p", { class: "hint" }, "You are online: you can still pay a shop card from your balance."));
  }
  const unfinished = await unfinishedCard(app, section);
  if (unfinished) section.append(unfinished);
  if (hasPurse && !(await hasPin(app))) {
    section.querySelector("h1").textContent = "Set your wallet PIN";
    section.append(h("p", {}, "Set a PIN before paying from your offline purse. It is asked each time you pay."),
      setPinForm(app, () => app.go("/pay")));
    return section;
  }
  const input = h("textarea", { id: "payment-request-in", rows: "6", autocomplete: "off", spellcheck: "false", required: true });
  const err = errorLine(input);
  const next = async () => {
    err.textContent = "";
    if (!input.value.trim()) { err.textContent = cardsOnly ? "Paste or scan the shop card." : "Paste or scan the payee's payment request."; return; }
    if (isCardText(input.value)) {
      try {
        const node = await cardForm(app, section, input.value);
        noPurse.remove();
        form.replaceWith(node);
        node.querySelector("input")?.focus();
      } catch (e) {
        err.textContent = e.reason ?? e.message;
      }
      return;
    }
    if (cardsOnly) { err.textContent = "This is not a shop card. With no open offline purse, only shop cards can be paid here."; return; }
    try {
      const handle = app.session.handle;
      const req = await readRequest(input.value, await accountOf(app).catch(() => null), handle);
      const earlier = await paidBefore(handle, req);
      if (earlier) { showNote(req, whom(req), earlier.record.text, true); return; }
      // No online send to this payee waits for its answer, and a purse can pay it: checked
      // before the PIN is asked (pay() checks again).
      await refuseWhileRequestSentOnline(handle, req);
      await choosePurse(handle, req.amount);
      confirm(req);
    } catch (e) {
      // Scanning one's own code is a mix-up, and an unanswered send to the payee must be
      // finished first; neither is a failed payment: say so here, keep the form.
      if (e.code === "own_request" || e.code === "sent_online") { err.textContent = e.reason; return; }
      app.showResult({ ok: false, reason: e.reason ?? e.message, summary: "Nothing was paid.", retry: "#/pay" });
    }
  };
  const scan = scanner((text) => { input.value = text; next(); }, (m) => { err.textContent = m; });
  const form = h("form", { onsubmit: (e) => { e.preventDefault(); next(); } },
    h("p", { class: "hint" }, cardsOnly ? "Scan or paste a shop card."
      : `Pays from your offline purse (${app.money(offline)} left). Works with no connection. Scan a payment request or a shop card.`),
    // With no purse (online) only a shop card can be paid: the field says so.
    h("label", { for: "payment-request-in" }, cardsOnly ? "Shop card" : "Payment request"), input, scan.node, err,
    h("button", { type: "submit" }, "Pay"));
  section.append(form);

  function whom(req) {
    return req.handle ?? `account ${req.payee}`;
  }

  function confirm(req) {
    const pin = pinField();
    const cerr = errorLine(pin.input);
    const who = whom(req);
    // The request is signed by the payee's device: its handle and the account paid are both shown.
    const payee = req.handle ? `${req.handle} (account ${req.payee})` : who;
    const yes = h("button", { type: "submit" }, "Confirm");
    const confirmForm = h("form", { onsubmit: async (e) => {
      e.preventDefault();
      yes.disabled = true;
      // The PIN first: a wrong one signs and stores nothing.
      if (!(await pinIsRight(app, pin.input, cerr))) { yes.disabled = false; return; }
      try {
        // `repeated` when another tab paid this request meanwhile: its note is shown instead.
        const { text, repeated } = await pay(app.session.handle, req);
        showNote(req, who, text, repeated);
      } catch (e) {
        app.showResult({ ok: false, reason: e.reason ?? e.message, summary: `${app.money(req.amount)} to ${who} was not paid.`, retry: "#/pay" });
      }
    } }, pin.label, cerr, h("div", { class: "actions" }, yes, h("a", { class: "button secondary", href: "#/home" }, "Cancel")));
    form.replaceWith(h("div", { class: "card", role: "group", "aria-label": "Confirm payment" },
      h("p", {}, "Pay ", h("strong", {}, app.money(req.amount)), " to ", h("strong", {}, payee), " from your offline purse?"),
      confirmForm));
    pin.input.focus();
  }

  function showNote(req, who, text, repeated = false) {
    section.replaceChildren(title(repeated ? "Already paid" : "Payment note ready"),
      repeated
        ? h("p", { role: "status", "data-testid": "already-paid" }, `${alreadyPaid(app.money(req.amount), who)} Show this code to the payee, or send them the text.`)
        : h("p", {}, `You paid ${app.money(req.amount)} to ${who}. Show this code to the payee, or send them the text.`),
      ...noteDisplay(app, req.amount, text),
      h("p", { class: "hint" }, "If the payee could not scan it, open this payment in your history to show the note again."));
    section.querySelector("h1").focus();
  }
  return section;
}
