// The wallet PIN on screen (../offline/pin.js): the field, "Set your wallet PIN" (before the first
// purse load, before paying when none is set yet, and on Account security), and the check on a
// confirm step (Pay from the purse, Send), which must pass before anything is written or signed.

import { h, field, errorLine } from "../ui.js";
import { checkPin, isPinShaped, pinState, setPin, MAX_WRONG, PIN_DIGITS } from "../offline/pin.js";

/** Said when the PIN is locked: the only way on is the password, online. */
export const LOCKED = "Too many wrong PINs. Log in online with your password to use your PIN again. Your offline money and payments stay on this phone.";

/** A labelled six-digit PIN field (digits keypad, not remembered by the browser). */
export function pinField(label = "Wallet PIN", name = "pin") {
  return field(label, {
    name, type: "password", inputmode: "numeric", autocomplete: "off", pattern: "[0-9]*",
    maxlength: String(PIN_DIGITS), minlength: String(PIN_DIGITS), required: true,
  });
}

/** The sentence for a wrong PIN with `left` tries left. */
export function wrongPin(left) {
  return `Wrong PIN. ${left} ${left === 1 ? "try" : "tries"} left before you must log in online.`;
}

/**
 * Checks the PIN typed in `input` for the logged-in user: true when right. When wrong, says so in
 * `err` and keeps the focus on the field; after the last try the session ends and the login page
 * says why (nothing is deleted).
 */
export async function pinIsRight(app, input, err) {
  err.textContent = "";
  const pin = input.value.trim();
  if (!isPinShaped(pin)) { err.textContent = `Enter your ${PIN_DIGITS}-digit PIN.`; input.focus(); return false; }
  const r = await checkPin(app.session.handle, pin);
  if (r.ok) return true;
  input.value = "";
  if (r.locked) {
    await app.logout(true, LOCKED);
    return false;
  }
  err.textContent = r.noPin ? "No PIN is set on this phone." : wrongPin(r.left);
  input.focus();
  return false;
}

/** Whether the logged-in user has a PIN on this device. */
export async function hasPin(app) {
  return (await pinState(app.session.handle).catch(() => ({ set: false }))).set;
}

/**
 * The "Set your wallet PIN" form: a new PIN typed twice (and the current one first when
 * `current`). Calls `done()` once the PIN is stored.
 */
export function setPinForm(app, done, { current = false, button = "Set PIN" } = {}) {
  const now = current ? pinField("Current PIN", "current-pin") : null;
  const next = pinField("New PIN (6 digits)", "new-pin");
  const again = pinField("Repeat new PIN", "repeat-pin");
  const nowErr = now ? errorLine(now.input) : null;
  const err = errorLine(next.input, again.input);
  const submit = h("button", { type: "submit" }, button);
  const form = h("form", { "data-testid": "set-pin", onsubmit: async (e) => {
    e.preventDefault();
    err.textContent = "";
    if (now) nowErr.textContent = "";
    const pin = next.input.value.trim();
    if (!isPinShaped(pin)) { err.textContent = `The PIN must be ${PIN_DIGITS} digits.`; next.input.focus(); return; }
    if (pin !== again.input.value.trim()) { err.textContent = "The two PINs differ."; again.input.focus(); return; }
    if (/^(\d)\1+$/.test(pin) || "0123456789".includes(pin) || "9876543210".includes(pin)) {
      err.textContent = "That PIN is too easy to guess. Choose six digits that are not all the same or in a row.";
      next.input.focus();
      return;
    }
    submit.disabled = true;
    try {
      if (now && !(await pinIsRight(app, now.input, nowErr))) { submit.disabled = false; return; }
      await setPin(app.session.handle, pin);
      await done();
    } catch (e2) {
      console.warn("set PIN", e2);
      err.textContent = "The PIN could not be saved on this phone. Try again.";
      submit.disabled = false;
    }
  } },
  h("p", { class: "hint" }, `The PIN opens your offline purse on this phone without a connection, and is asked before you pay or send. After ${MAX_WRONG} wrong PINs you must log in online with your password.`),
  now?.label, nowErr, next.label, again.label, err, submit);
  return form;
}
