// "Unlock offline purse with PIN", on the login page: offered when this device has a wallet PIN for
// the user who last logged out here (../offline/pin.js) and the server cannot be reached (no
// connection, or the server does not answer). The right PIN opens an offline-only session
// (app.unlockOffline): the offline wallet with no server token. Wrong PINs count towards the
// lockout; once locked, the card says a login with the password is needed.

import { api } from "../api.js";
import { h, errorLine } from "../ui.js";
import { unlockable } from "../offline/pin.js";
import { LOCKED, pinField, pinIsRight } from "./pin.js";

/** Whether the server answers now (a network failure, or the browser being offline, says no). */
async function serverAnswers() {
  if (!navigator.onLine) return false;
  try {
    await api.config();
    return true;
  } catch (e) {
    return e.code !== "network";
  }
}

/** The card's place on the login page; it fills itself in when unlocking offline is possible. */
export function unlockOffer(app) {
  const slot = h("div", { "data-testid": "unlock-slot" });
  let shown = false;
  const update = async () => {
    const who = await unlockable().catch(() => null);
    const show = who && !(await serverAnswers());
    if (!show) { slot.replaceChildren(); shown = false; return; }
    if (shown) return;
    shown = true;
    slot.replaceChildren(card(app, who));
    // Logging in cannot work now: the focus moves to the card unless the person is typing already
    // (after the page is in place and its heading focused).
    setTimeout(() => {
      const active = document.activeElement;
      if (!active || active === document.body || active.tagName === "H1") slot.querySelector("h2")?.focus();
    }, 0);
  };
  update();
  // The connection comes and goes while the login page shows: offer (or withdraw) the card.
  const onNet = () => { if (slot.isConnected) update(); else { removeEventListener("online", onNet); removeEventListener("offline", onNet); } };
  addEventListener("online", onNet);
  addEventListener("offline", onNet);
  return slot;
}

function card(app, who) {
  const heading = h("h2", { tabindex: "-1" }, "Unlock offline purse");
  if (who.locked) {
    return h("div", { class: "card", role: "group", "aria-label": "Unlock offline purse", "data-testid": "unlock-offline" },
      heading, h("p", { role: "status" }, LOCKED));
  }
  const pin = pinField();
  const err = errorLine(pin.input);
  const button = h("button", { type: "submit" }, "Unlock with PIN");
  const form = h("form", { onsubmit: async (e) => {
    e.preventDefault();
    button.disabled = true;
    // pinIsRight checks for the session's user: for the unlock it is the remembered one.
    const probe = { session: { handle: who.handle }, logout: async (_server, message) => {
      form.replaceWith(h("p", { role: "alert" }, message));
    } };
    try {
      if (await pinIsRight(probe, pin.input, err)) await app.unlockOffline(who.handle);
    } finally {
      button.disabled = false;
    }
  } },
  h("p", {}, "No connection? Open the offline purse of ", h("strong", {}, who.handle), " on this phone with your wallet PIN. You can pay and receive offline; everything else needs logging in online."),
  pin.label, err, button);
  return h("div", { class: "card", role: "group", "aria-label": "Unlock offline purse", "data-testid": "unlock-offline" }, heading, form);
}
