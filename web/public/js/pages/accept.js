// Accept: the payee pastes or scans the payer's payment note; the device checks it with no server,
// stores it, and only then shows "Payment successful" (or "Payment failed" with the reason; a note
// already accepted on this device shows "Already received" with its amount and time instead).

import { offlineDisabled } from "./offline-off.js";
import { h, title, errorLine } from "../ui.js";
import { scanner } from "../qr.js";
import { acceptText } from "../offline/wallet.js";
import { autoSync } from "../offline/sync.js";

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
      app.showResult({ ok: true, summary: `${app.money(r.amount)} received. It settles when either device is online.` });
      autoSync(app);
    } catch (e) {
      if (e.code === "already_accepted" && e.earlier) {
        // Not a failure: this payment is already on the device; nothing more was received.
        const when = new Date(e.earlier.acceptedMs).toLocaleString();
        app.showResult({ ok: true, title: "Already received",
          summary: `You already accepted this payment of ${app.money(e.earlier.amount)} on ${when}. Nothing more was received.` });
        return;
      }
      app.showResult({ ok: false, reason: e.reason ?? e.message, summary: "The payment note was not accepted.", retry: "#/accept" });
    }
  };
  const scan = scanner((text) => { input.value = text; submit(); }, (m) => { err.textContent = m; });
  return h("section", {}, title("Accept payment"),
    h("form", { onsubmit: (e) => { e.preventDefault(); submit(); } },
      h("label", { for: "payment-note-in" }, "Payment note"), input, scan.node, err, button));
}
