// The two outcome screens: "Payment successful" and "Payment failed" (with the reason in plain words).

import { h, title } from "../ui.js";

export function render(app) {
  const r = app.result;
  if (!r) return h("section", {}, title("Nothing to show"), h("a", { class: "button", href: "#/home" }, "Back to home"));
  return h("section", { class: `outcome ${r.ok ? "ok" : "bad"}` },
    h("span", { class: "mark", "aria-hidden": "true" }, r.ok ? "✓" : "✗"),
    title(r.title ?? (r.ok ? "Payment successful" : "Payment failed")),
    r.summary ? h("p", { "data-testid": "result-summary" }, r.summary) : null,
    r.ok ? null : h("p", { class: "error", "data-testid": "failure-reason" }, `Reason: ${r.reason}`),
    r.details ?? null,
    h("div", { class: "actions" },
      r.retry ? h("a", { class: "button secondary", href: r.retry }, "Try again") : null,
      h("a", { class: "button", href: "#/home" }, "Done"),
    ),
  );
}
