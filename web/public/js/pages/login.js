// Login page, with Register: the same form, two buttons.

import { api } from "../api.js";
import { deviceToken } from "../session.js";
import { h, field, title, errorLine } from "../ui.js";
import { unlockOffer } from "./unlock.js";

export function render(app) {
  const user = field("Username", { name: "username", autocomplete: "username", autocapitalize: "none", spellcheck: "false", required: true, value: app.loginHandle });
  const pass = field("Password", { name: "password", type: "password", autocomplete: "current-password", required: true, minlength: "8" });
  const err = errorLine(user.input, pass.input);
  // Kept until someone logs in (`app.login`, `app.unlockOffline`): the login page may be drawn
  // twice for one logout (a hash change still pending when a later logout draws it again), and
  // the later drawing must not lose the message.
  if (app.loginMessage) err.textContent = app.loginMessage;

  async function submit(kind) {
    err.textContent = "";
    const handle = user.input.value.trim();
    const password = pass.input.value;
    if (!handle || !password) { err.textContent = "Enter your username and password."; return; }
    if (!navigator.onLine) { err.textContent = "You are offline. Logging in needs a connection."; return; }
    for (const b of form.querySelectorAll("button")) b.disabled = true;
    try {
      const s = kind === "register" ? await api.register(handle, password) : await api.login(handle, password, deviceToken(handle));
      await app.login(s);
    } catch (e) {
      err.textContent = e.reason ?? "Something went wrong.";
      for (const b of form.querySelectorAll("button")) b.disabled = false;
    }
  }

  const form = h("form", { onsubmit: (e) => { e.preventDefault(); submit("login"); } },
    user.label, pass.label, err,
    h("div", { class: "actions" },
      h("button", { type: "submit" }, "Log in"),
      h("button", { type: "button", class: "secondary", onclick: () => submit("register") }, "Register"),
    ),
  );
  return h("section", {}, title("Log in to offpay"),
    h("p", { class: "hint" }, "New here? Choose a username and a password of at least 8 characters, then press Register."),
    form, unlockOffer(app));
}
