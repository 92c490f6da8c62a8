// Shown in an offline-only session (opened with the wallet PIN, no server token) in place of a
// page that needs the server: sending, loading or closing a purse, account security, the online
// balance. The way on is logging in online with the password.

import { h, title } from "../ui.js";

export function render(app) {
  return h("section", {}, title("Log in online for this"),
    h("p", { class: "offline-banner", "data-testid": "needs-login" },
      "You opened your offline purse with your PIN. This needs you to log in online with your password."),
    h("p", { class: "hint" }, "Paying and receiving offline, your offline history and your payment notes work without logging in."),
    h("div", { class: "actions" },
      h("a", { class: "button", href: "#/offline" }, "Back to offline wallet"),
      navigator.onLine ? h("button", { type: "button", class: "secondary", onclick: () => app.loginAgain() }, "Log in with password") : null));
}
