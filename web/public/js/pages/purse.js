// Load offline purse: move money from the balance into this device's offline purse (online), and
// the way to "Close offline purse" when one is open (or its close is unfinished). The first load on
// a device asks for a wallet PIN first (pages/pin.js): the purse can then be opened offline with it.

import { parseMajor } from "../money.js";
import { offlineDisabled } from "./offline-off.js";
import { h, field, title, errorLine } from "../ui.js";
import { loadPurse, purses, unfinishedLoad } from "../offline/wallet.js";
import { closablePurses } from "../offline/close.js";
import { hasPin, setPinForm } from "./pin.js";

export async function render(app) {
  if (!app.config.offline) return offlineDisabled("Load offline purse");
  if (!(await hasPin(app))) {
    return h("section", {}, title("Load offline purse"),
      h("h2", {}, "Set your wallet PIN"),
      h("p", {}, "Before your first offline purse, choose a 6-digit PIN for this phone."),
      setPinForm(app, () => app.go("/purse")));
  }
  const list = await purses(app.session.handle);
  const section = h("section", {}, title("Load offline purse"),
    h("p", { class: "hint" }, "Money in the offline purse can be paid with no connection, from this device only. Limits: up to 200.00 per payment and 2,000.00 per purse unless the operator set others, and 1,000 payments per purse."));
  const active = list.filter((p) => p.status === "active");
  section.append(h("div", { class: "card" },
    h("span", { class: "label" }, "Offline balance"),
    h("output", { class: "amount-big", "data-testid": "offline-balance" }, app.money(active.reduce((s, p) => s + p.amount - p.spent, 0)))));
  if (!navigator.onLine) {
    section.append(h("p", { class: "offline-banner" }, "Loading a purse needs a connection."));
    return section;
  }
  if ((await closablePurses(app.session.handle)).length) {
    section.append(h("p", { class: "hint" }, "Closing the purse gives back to your balance what it has not paid."),
      h("div", { class: "actions" }, h("a", { class: "button secondary", href: "#/close" }, "Close offline purse")));
  }
  const amount = field("Amount", { name: "amount", inputmode: "decimal", autocomplete: "off", required: true, placeholder: "0.00" });
  const err = errorLine(amount.input);
  const step = h("div");
  section.append(step);
  const load = async (button, minor) => {
    err.textContent = "";
    button.disabled = true;
    try {
      const r = await loadPurse(app, minor);
      if (Number.isSafeInteger(r.balance)) app.me = { ...(app.me ?? {}), balance: r.balance };
      app.showResult({ ok: true, title: "Purse loaded", summary: `${app.money(minor)} is now in your offline purse.` });
    } catch (e2) {
      app.handleError(e2);
      // The session ended (401): the login page is shown; an unfinished load stays for the next login.
      if (!app.session) return;
      const pending = await unfinishedLoad(app.session.handle);
      if (pending) showUnfinished(pending);
      err.textContent = e2.reason ?? e2.message;
      button.disabled = false;
    }
  };
  // A load whose answer was lost: finish it (same key) before another can start.
  const showUnfinished = (intent) => {
    const minor = intent.body.amount;
    const finish = h("button", { type: "button", onclick: () => load(finish, minor) }, "Finish loading");
    step.replaceChildren(h("div", { class: "card", role: "group", "aria-label": "Unfinished load", "data-testid": "unfinished-load" },
      h("p", {}, "Loading ", h("strong", {}, app.money(minor)), " did not get an answer from the server. It may already be reserved."),
      h("p", { class: "hint" }, "Finish loading to get that purse on this device. Nothing is reserved twice."),
      err, h("div", { class: "actions" }, finish)));
  };
  const unfinished = await unfinishedLoad(app.session.handle);
  if (unfinished) {
    showUnfinished(unfinished);
    return section;
  }
  const button = h("button", { type: "submit" }, "Load offline purse");
  step.append(h("form", { onsubmit: async (e) => {
    e.preventDefault();
    err.textContent = "";
    const parsed = parseMajor(amount.input.value, app.config.decimals);
    if (!parsed.ok) { err.textContent = parsed.reason; return; }
    await load(button, parsed.minor);
  } }, amount.label, err, button));
  return section;
}
