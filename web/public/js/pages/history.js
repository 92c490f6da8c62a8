// History: every entry of the account, newest first, with "Show more".

import { api } from "../api.js";
import { h, title } from "../ui.js";
import { activityList } from "./activity.js";

export async function render(app) {
  const section = h("section", {}, title("History"));
  if (!navigator.onLine) {
    section.append(h("p", { class: "offline-banner" }, "History needs a connection. Offline payments are on the Sync status page."));
    return section;
  }
  let page;
  try {
    page = await api.history(app.session.token, { limit: 50 });
  } catch (e) {
    app.handleError(e);
    section.append(h("p", { class: "error", role: "alert" }, e.reason ?? "History could not be loaded."));
    return section;
  }
  const list = h("div", {}, activityList(app, page.items));
  section.append(list);
  let next = page.next_before;
  const more = h("button", { type: "button", class: "secondary", hidden: !next, onclick: async () => {
    more.disabled = true;
    try {
      const p = await api.history(app.session.token, { before: next, limit: 50 });
      list.append(activityList(app, p.items));
      next = p.next_before;
    } catch (e) { app.handleError(e); }
    more.disabled = false;
    more.hidden = !next;
  } }, "Show more");
  section.append(more);
  return section;
}
