// Account security (online): change the password (the current one is checked; every other
// session of the account ends, this phone stays logged in) and log out on every device (a lost
// or stolen phone too). docs/API.md: POST /v1/password, POST /v1/logout-all. Also the wallet PIN
// of this phone: set it, change it with the current one, or (forgotten) set a new one after the
// account password is checked by the server (a login whose session is ended at once).

import { api } from "../api.js";
import { deviceToken } from "../session.js";
import { h, field, title, errorLine, notice } from "../ui.js";
import { hasPin, setPinForm } from "./pin.js";

const REASONS = {
  wrong_password: "The current password is wrong.",
  weak_password: "The new password must have at least 8 characters.",
};

export async function render(app) {
  const section = h("section", {}, title("Account security"));
  if (!navigator.onLine) {
    section.append(h("p", { class: "offline-banner" }, "Changing the password or logging out other devices needs a connection."),
      h("a", { class: "button", href: "#/home" }, "Back to home"));
    return section;
  }
  const current = field("Current password", { name: "current-password", type: "password", autocomplete: "current-password", required: true });
  const next = field("New password", { name: "new-password", type: "password", autocomplete: "new-password", required: true, minlength: "8" });
  const again = field("Repeat new password", { name: "repeat-password", type: "password", autocomplete: "new-password", required: true, minlength: "8" });
  const currentErr = errorLine(current.input);
  const nextErr = errorLine(next.input, again.input);
  const change = h("button", { type: "submit" }, "Change password");
  const form = h("form", { onsubmit: async (e) => {
    e.preventDefault();
    currentErr.textContent = "";
    nextErr.textContent = "";
    if (next.input.value !== again.input.value) { nextErr.textContent = "The two new passwords differ."; again.input.focus(); return; }
    change.disabled = true;
    try {
      await api.changePassword(app.session.token, current.input.value, next.input.value);
      app.showResult({ ok: true, title: "Password changed",
        summary: "Your password is changed. Every other device logged in to your account has been logged out; this one stays logged in." });
    } catch (err) {
      app.handleError(err);
      const reason = REASONS[err.code] ?? err.reason ?? err.message;
      if (err.code === "wrong_password") { currentErr.textContent = reason; current.input.focus(); }
      else { nextErr.textContent = reason; next.input.focus(); }
      change.disabled = false;
    }
  } }, current.label, currentErr, next.label, again.label, nextErr, change);

  const outErr = errorLine();
  const out = h("button", { type: "button", class: "danger", onclick: async () => {
    out.disabled = true;
    outErr.textContent = "";
    try {
      await api.logoutAll(app.session.token);
      await app.logout(false, "You were logged out on every device.");
    } catch (err) {
      app.handleError(err);
      outErr.textContent = err.reason ?? err.message;
      out.disabled = false;
    }
  } }, "Log out on every device");

  const pinSet = await hasPin(app);
  const pinDone = () => { notice(pinSet ? "Your wallet PIN is changed." : "Your wallet PIN is set."); app.go("/account"); };
  const pinStep = h("div", {}, setPinForm(app, pinDone, pinSet ? { current: true, button: "Change PIN" } : {}));
  section.append(
    h("h2", {}, "Change password"), form,
    h("h2", {}, "Wallet PIN"),
    h("p", { "data-testid": "pin-status" }, pinSet ? "A wallet PIN is set on this phone." : "No wallet PIN is set on this phone yet."),
    pinStep,
    pinSet ? forgotPin(app, pinStep, pinDone) : null,
    h("h2", {}, "Lost or stolen phone?"),
    h("p", { class: "hint" }, "Log out on every device, this one included, then log in again here. Offline purses and payments kept on a lost phone cannot be cut off this way: close your offline purse from here once you are logged in again."),
    outErr, h("div", { class: "actions" }, out));
  return section;
}

/**
 * "Forgot your PIN?": the account password, checked by the server (POST /v1/login, and the new
 * session is ended at once), lets a new PIN be set without the old one. Also the way back after
 * too many wrong PINs, besides logging in again.
 */
function forgotPin(app, pinStep, done) {
  const pass = field("Your password", { name: "pin-reset-password", type: "password", autocomplete: "current-password", required: true });
  const err = errorLine(pass.input);
  const go = h("button", { type: "submit", class: "secondary" }, "Set a new PIN with my password");
  const form = h("form", { onsubmit: async (e) => {
    e.preventDefault();
    err.textContent = "";
    go.disabled = true;
    try {
      const s = await api.login(app.session.handle, pass.input.value, deviceToken(app.session.handle));
      await api.logout(s.token).catch(() => {});
      pinStep.replaceChildren(setPinForm(app, done, { button: "Set new PIN" }));
      disclosure.remove();
      pinStep.querySelector("input")?.focus();
    } catch (e2) {
      app.handleError(e2);
      err.textContent = e2.code === "invalid_credentials" ? "The password is wrong." : (e2.reason ?? e2.message);
      pass.input.focus();
      go.disabled = false;
    }
  } }, pass.label, err, go);
  const disclosure = h("details", { "data-testid": "forgot-pin" }, h("summary", {}, "Forgot your PIN?"),
    h("p", { class: "hint" }, "Enter your account password to set a new PIN on this phone. Your offline money and payments stay as they are."),
    form);
  return disclosure;
}
