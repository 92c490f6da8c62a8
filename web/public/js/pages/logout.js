// Log out, with a warning first when this device holds offline money or payments that have not
// reached the server: an offline purse with money in it, notes paid or accepted here and not yet
// settled, payment codes refused at the shop's counter not yet given back to their payers, or a
// send or purse load whose answer was lost. Nothing is deleted by logging out (the
// records stay on this device for the next login), but using them needs the user logged in again,
// and logging in needs a connection; with a wallet PIN set, the offline purse can also be opened
// again with the PIN and no connection (pages/unlock.js). With nothing to warn about, it logs out
// at once.

import { h, title } from "../ui.js";
import { offlineBalance, waiting } from "../offline/wallet.js";
import { pendingIntents } from "../intents.js";
import { allFor } from "../offline/db.js";
import { awaitsSending } from "../offline/counter-refusals.js";
import { hasPin } from "./pin.js";

/** What would wait on this device after logging out: {offline, sent, received, toReturn, unfinished}. */
export async function whatWaits(handle) {
  const [offline, notes, sends, loads, refusals] = await Promise.all([
    offlineBalance(handle),
    waiting(handle),
    pendingIntents(handle, "send"),
    pendingIntents(handle, "load"),
    allFor("refusals", handle),
  ]);
  return {
    offline, sent: notes.sent.length, received: notes.received.length, toReturn: refusals.filter(awaitsSending).length,
    unfinished: sends.length + loads.length,
  };
}

export async function render(app) {
  const withPin = await hasPin(app);
  const facts = await whatWaits(app.session.handle).catch((e) => { console.warn("logout facts", e); return { offline: 0, sent: 0, received: 0, toReturn: 0, unfinished: 0 }; });
  if (!facts.offline && !facts.sent && !facts.received && !facts.toReturn && !facts.unfinished) {
    await app.logout();
    return h("section", {}, title("Logging out"));
  }
  const lines = [];
  if (facts.offline) lines.push(`${app.money(facts.offline)} is in your offline purse on this device.`);
  if (facts.sent) lines.push(`${facts.sent} offline payment(s) you made have not reached the server yet.`);
  if (facts.received) lines.push(`${facts.received} offline payment(s) you received have not been uploaded yet: you are not paid for them until they are.`);
  if (facts.toReturn) lines.push(`${facts.toReturn} payment code(s) refused at your counter have not been given back to the payer yet: until they are, the server may pay them to you.`);
  if (facts.unfinished) lines.push("A payment or purse load did not get an answer from the server and is not finished.");
  const out = h("button", { type: "button", class: "danger", onclick: () => app.logout() }, "Log out anyway");
  // A session opened with the PIN cannot sync: it has no server token.
  const canSync = navigator.onLine && !app.offlineOnly;
  return h("section", {}, title("Log out?"),
    h("div", { class: "card", role: "group", "aria-label": "Before you log out", "data-testid": "logout-warning" },
      ...lines.map((l) => h("p", {}, l)),
      h("p", { class: "hint" }, canSync
        ? "They stay on this device, but you can use them only after logging in again. Sync first to upload your payments."
        : withPin
          ? "They stay on this device. With no connection you can open your offline purse again with your wallet PIN; uploading these payments needs logging in online."
          : "They stay on this device, but you can use them only after logging in again, and logging in needs a connection. Until then you cannot pay offline from this purse or upload these payments."),
      h("div", { class: "actions" },
        canSync ? h("a", { class: "button", href: "#/sync" }, "Sync now") : null,
        h("a", { class: "button secondary", href: "#/home" }, "Stay logged in"),
        out)));
}
