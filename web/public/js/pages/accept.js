// Accept: the payee pastes or scans the payer's payment note; the device checks it with no server,
// stores it, and only then shows "Payment successful" (or "Payment failed" with the reason; a note
// already accepted on this device shows "Already received" with its amount and time instead).
// A note paying this phone's shop card (docs/PROTOCOL.md 16.3) shows its amount large and the payer.

import { offlineDisabled } from "./offline-off.js";
import { h, title, errorLine } from "../ui.js";
import { scanner } from "../qr.js";
import { acceptText } from "../offline/wallet.js";
import { autoSync } from "../offline/sync.js";
import { announce } from "../shop-feed.js";
import { hex } from "../protocol/crypto.js";

export function render(app) {
  if (!app.config.offline) return offlineDisabled("Accept payment");
  const input = h("textarea", { id: "payment-note-in", rows: "6", autocomplete: "off", spellcheck: "false", required: true });
  const err = errorLine(input);
  const button = h("button", { type: "submit" }, "Accept");
  const submit = async () => {
    err.textContent = "";
    if (!input.value.trim()) { err.textContent = "Paste or scan the payer's payment note."; return; }
    button.disabled = true;
    try {
      const r = await acceptText(app, input.value);
      if (r.receipt) {
        // Paid online: the money is already in the account; the receipt proves it with no connection.
        const from = r.payerHandle ?? `account ${r.payer}`;
        const text = `${app.money(r.amount)} received from ${from}`;
        announce(app, { amount: r.amount, from, entryId: r.entryId.toString() });
        app.showResult({ ok: true, summary: `${text}. Paid online: the money is already in your account (entry ${r.entryId}).`,
          details: h("p", { class: "announce", "data-testid": "receipt-amount" }, text) });
        return;
      }
      if (r.card) {
        // A shop card payment: the amount is the customer's, so it is shown large for the cashier
        // to check against the bill (docs/PROTOCOL.md 16.4).
        const text = `${app.money(r.amount)} received from account ${r.payer}`;
        announce(app, { amount: r.amount, from: `account ${r.payer}`, noteHash: hex(r.noteHash) });
        app.showResult({ ok: true, summary: `${text}. Check it against the bill. ${settles(r)}`,
          details: h("p", { class: "announce", "data-testid": "card-amount" }, text) });
      } else {
        app.showResult({ ok: true, summary: `${app.money(r.amount)} received. ${settles(r)}` });
      }
      autoSync(app);
    } catch (e) {
      if (e.code === "already_accepted" && e.earlier) {
        // Not a failure: this payment is already on the device; nothing more was received.
        const when = new Date(e.earlier.acceptedMs).toLocaleString();
        app.showResult({ ok: true, title: "Already received",
          summary: `You already accepted this payment of ${app.money(e.earlier.amount)} on ${when}. Nothing more was received.` });
        return;
      }
      // A code refused and kept to be given back (for a clock, a retired card, an unknown issuer
      // key or a revoked purse: counter-refusals.js): online, at once.
      if (e.kept) autoSync(app);
      app.showResult({ ok: false, reason: e.reason ?? e.message, summary: "The payment note was not accepted.", retry: "#/accept" });
    }
  };
  const scan = scanner((text) => { input.value = text; submit(); }, (m) => { err.textContent = m; });
  return h("section", {}, title("Accept payment"),
    h("form", { onsubmit: (e) => { e.preventDefault(); submit(); } },
      h("label", { for: "payment-note-in" }, "Payment note"), input, scan.node, err, button));
}

/**
 * When an accepted note settles, and the time to be online by: the payer's purse ends then, and
 * a note uploaded after its settlement deadline (which follows) is paid only if the payer's
 * balance covers it (docs/OFFLINE.md, "Expiry").
 */
function settles(r) {
  const by = Number.isFinite(r.validUntil) ? new Date(r.validUntil * 1000).toLocaleString() : null;
  return by
    ? `It settles when either device is online; be online by ${by} (when the payer's purse ends) to be sure it is paid.`
    : "It settles when either device is online.";
}
