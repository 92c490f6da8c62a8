// Placeholder until the offline flow lands (see docs/WEB.md).

import { h, title } from "../ui.js";

export function render() {
  return h("section", {}, title("sync"), h("p", { class: "hint" }, "Not available yet."));
}
