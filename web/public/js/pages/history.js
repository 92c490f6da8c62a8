// History: one list, newest first, of the server's online entries and every offline note this
// device paid or accepted, with its state (offline/entries.js merges a settled note with the
// server entry that paid it, so it is listed once); "Show more" loads older server entries. With
// no connection it lists this device's own records and says that online entries need one. Each
// entry opens its receipt.

import { h, title } from "../ui.js";
import { loadMerged } from "../offline/history.js";
import { activityList } from "./activity.js";

export async function render(app) {
  const section = h("section", {}, title("History"));
  // A session opened with the wallet PIN has no token: only this phone's records.
  const online = navigator.onLine && !app.offlineOnly;
  let r = await loadMerged(app, [], { online });
  if (r.error) app.handleError(r.error);
  if (!online || r.error) {
    section.append(h("p", { class: "offline-banner", "data-testid": "history-offline" }, app.offlineOnly
      ? "You opened your offline purse with your PIN: this list shows the offline payments kept on this phone. Online payments appear once you log in online."
      : online
        ? "The server could not be reached, so this list shows only the offline payments kept on this phone. Online payments appear again when the connection works."
        : "You are offline: this list shows the offline payments kept on this phone. Online payments appear again when you are back online."));
  }
  const list = h("div", {}, activityList(app, r.entries));
  section.append(list);
  const more = h("button", { type: "button", class: "secondary", hidden: !r.next, onclick: async () => {
    more.disabled = true;
    const next = await loadMerged(app, r.items, { before: r.next });
    if (next.error) app.handleError(next.error);
    else r = next;
    list.replaceChildren(activityList(app, r.entries));
    more.disabled = false;
    more.hidden = !r.next;
  } }, "Show more");
  section.append(more);
  return section;
}
