// Close offline purse (online): says what closing does (what returns to the balance now, what
// stays reserved for payments not yet settled), asks for confirmation, closes (the device signs a
// close statement, offline/close.js), then shows the outcome the server answered.

import { offlineDisabled } from "./offline-off.js";
import { h, title, errorLine } from "../ui.js";
import { closePreview, closePurses } from "../offline/close.js";
import { NO_OPEN_PURSE } from "../offline/wallet.js";
import * as session from "../session.js";

/** "X returns to your balance now; Y stays reserved for payments not yet settled." */
export function closeSentence(app, back, reserved) {
  const rest = reserved > 0 ? `${app.money(reserved)} stays reserved for payments not yet settled.` : "nothing stays reserved.";
  return `${app.money(back)} returns to your balance now; ${rest}`;
}

export async function render(app) {
  if (!app.config.offline) return offlineDisabled("Close offline purse");
  const handle = app.session.handle;
  const section = h("section", {}, title("Close offline purse"));
  if (!navigator.onLine) {
    section.append(h("p", { class: "offline-banner" }, "Closing a purse needs a connection."),
      h("a", { class: "button", href: "#/home" }, "Back to home"));
    return section;
  }
  const preview = await closePreview(handle);
  if (!preview.purses.length) {
    section.append(h("p", { role: "status" }, NO_OPEN_PURSE), h("a", { class: "button", href: "#/home" }, "Back to home"));
    return section;
  }
  const unfinished = preview.purses.some((p) => p.status === "closing");
  const err = errorLine();
  const yes = h("button", { type: "button", onclick: async () => {
    yes.disabled = true;
    err.textContent = "";
    try {
      const r = await closePurses(app);
      if (r.balance !== null) {
        app.me = { ...(app.me ?? session.cachedMe(handle) ?? {}), balance: r.balance };
        session.saveMe(handle, app.me);
      }
      if (r.fraud) {
        app.showResult({ ok: false, title: "Purse revoked",
          reason: "The server holds payments from this purse beyond what this device signed: a copy of it was used elsewhere. Nothing was returned and your account is frozen. Contact the operator.",
          summary: "This purse pays nothing more." });
        return;
      }
      app.showResult({ ok: true, title: "Purse closed",
        summary: `${app.money(r.returned)} returned to your balance. ` + (r.held > 0
          ? `${app.money(r.held)} stays reserved for payments not yet settled: their payees are paid when they sync, and what is left returns when the purse expires.`
          : "Nothing stays reserved.") });
    } catch (e) {
      app.handleError(e);
      const after = await closePreview(handle).catch(() => null);
      const frozen = after?.purses.some((p) => p.status === "closing");
      app.showResult({ ok: false, title: "Purse not closed", reason: e.reason ?? e.message, retry: "#/close",
        summary: frozen ? "This device pays nothing more from the purse. Try again to finish closing it." : "Nothing was closed." });
    }
  } }, "Close purse");
  section.append(h("div", { class: "card", role: "group", "aria-label": "Confirm closing" },
    h("p", { "data-testid": "close-summary" }, closeSentence(app, preview.back, preview.reserved)),
    preview.waiting ? h("p", { class: "hint" }, `${preview.waiting} payment(s) you made offline have not reached the server yet. Their payees are paid from the reserved money when they sync; what is left returns when the purse expires.`) : null,
    h("p", { class: "hint" }, unfinished
      ? "Closing was started on this device and not finished: the purse already pays nothing more."
      : "After closing, this device cannot pay offline from this purse any more."),
    err, h("div", { class: "actions" }, yes, h("a", { class: "button secondary", href: "#/purse" }, "Cancel"))));
  return section;
}
