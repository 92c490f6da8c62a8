// Shown instead of an offline page when the server has no offline payments (no `offline` in
// GET /v1/config, see docs/API-OFFLINE.md).

import { h, title } from "../ui.js";

export function offlineDisabled(heading) {
  return h("section", {}, title(heading),
    h("p", { class: "offline-banner" }, "Offline payments are not enabled on this server yet."),
    h("a", { class: "button", href: "#/home" }, "Back to home"));
}
