// Paying a shop card from the Pay screen (docs/PROTOCOL.md 16, docs/OFFLINE.md "Paying a shop
// card"): the checked card's "Pay <shop name>" form (Amount, the wallet PIN when set or when
// paying from the purse, Confirm). Online, and when the card names a handle, the payment is an
// online transfer to that handle through the send path (the intent and its idempotency key are
// kept before it is sent: ../intents.js); otherwise it is a card note from the offline purse
// (offline/shop.js: the tap's nonce is kept before signing, and the note is stored before it is
// shown), shown as a QR code under "Show this to the shop". While an online payment to the shop
// has no answer (its outcome unknown), the card is not paid again, online or offline: the form
// says to check and finish that payment first, as paying again could pay the shop twice. Confirm
// is turned off as it is pressed, before anything is awaited: a double tap pays once.

import { api } from "../api.js";
import { beginSend, pendingIntents, pendingSendTo, runIntent, UnansweredSendError } from "../intents.js";
import { parseMajor } from "../money.js";
import { h, field, title, errorLine } from "../ui.js";
import { noteDisplay } from "./note.js";
import { qrFigure } from "../qr.js";
import { hasPin, pinField, pinIsRight } from "./pin.js";
import { accountOf, choosePurse, openPurses, offlineBalance } from "../offline/wallet.js";
import {
  readCard, beginCardPayment, payCard, unfinishedCardPayment, dropCardPayment, refuseWhileSentOnline, storedCardPayment,
} from "../offline/shop.js";
import { fromText } from "../protocol/objects.js";
import { cardNoncePrefix } from "../protocol/accept.js";
import { hex } from "../protocol/crypto.js";

/** Pays online when this phone is online with a server session and the card names a handle. */
const paysOnline = (app, card) => Boolean(app.online && !app.offlineOnly && app.session.token && card.handle);

/** The "Pay <shop name>" form for the card text `text` (checked first: OfflineError in words). */
export async function cardForm(app, section, text) {
  const card = await readCard(text, await accountOf(app).catch(() => null));
  const online = paysOnline(app, card);
  // A card of another currency (another server's): an online transfer here would be in ours.
  if (online && card.currency !== app.config.currency) {
    const e = new Error("This shop card is for payments in another currency.");
    e.reason = e.message;
    throw e;
  }
  const handle = app.session.handle;
  // An online payment to this shop with no answer may have been made: never pay it again.
  if (!online) await refuseWhileSentOnline(handle, card);
  const unanswered = online ? await pendingSendTo(handle, sendTo(card)) : null;
  if (unanswered) throw new UnansweredSendError(unanswered);
  const purses = online ? [] : await openPurses(handle);
  if (!online && !purses.length) {
    const e = new Error("You have no open offline purse, and paying this shop online needs a connection.");
    e.reason = e.message;
    throw e;
  }
  const capText = online ? "" : ` Up to ${app.money(Math.max(...purses.map((p) => p.cap)))} per payment; ${app.money(await offlineBalance(handle))} in your offline purse.`;
  const amount = field("Amount", { name: "amount", inputmode: "decimal", autocomplete: "off", required: true, placeholder: "0.00" });
  const amountErr = errorLine(amount.input);
  const pin = online && !(await hasPin(app)) ? null : pinField();
  const pinErr = errorLine(...(pin ? [pin.input] : []));
  const yes = h("button", { type: "submit" }, "Confirm");
  let tapping = false;
  const who = [card.handle, `account ${card.payee}`].filter(Boolean).join(", ");
  const node = h("div", { class: "card", role: "group", "aria-label": `Pay ${card.name}` },
    h("h2", {}, `Pay ${card.name}`),
    h("p", { class: "hint", "data-testid": "card-payee" }, `Shop card of ${who}. ${online ? "Paid online from your balance." : "Paid from your offline purse."}${capText}`),
    h("form", { onsubmit: async (e) => {
      e.preventDefault();
      // Off before anything is awaited: a second tap (or Enter) while this one runs does nothing.
      if (tapping) return;
      tapping = true;
      yes.disabled = true;
      const again = () => { tapping = false; yes.disabled = false; };
      amountErr.textContent = "";
      const parsed = parseMajor(amount.input.value, app.config.decimals);
      if (!parsed.ok) { amountErr.textContent = parsed.reason; amount.input.focus(); again(); return; }
      if (!online) {
        try { await choosePurse(handle, parsed.minor); } catch (e2) { amountErr.textContent = e2.reason ?? e2.message; amount.input.focus(); again(); return; }
      }
      // The PIN first: a wrong one writes, signs and sends nothing.
      if (pin && !(await pinIsRight(app, pin.input, pinErr))) { again(); return; }
      if (online) { await payOnline(app, card, parsed.minor, pinErr, yes); return; }
      let tap;
      // One tap at a time (another tab's may not be finished): refused here, nothing kept.
      try { tap = await beginCardPayment(handle, text, parsed.minor); } catch (e2) { pinErr.textContent = e2.reason ?? e2.message; again(); return; }
      await payOffline(app, section, tap);
    } }, amount.label, amountErr, pin?.label, pinErr,
    h("div", { class: "actions" }, yes, h("a", { class: "button secondary", href: "#/home" }, "Cancel"))));
  return node;
}

/** What a send to `card`'s shop is compared by (../intents.js samePayee): its handle and account. */
const sendTo = (card) => ({ to: card.handle, toAccount: Number(card.payee) });

/**
 * The online transfer to the card's handle, kept as a send intent first (as pages/send.js), paid
 * only if that handle is the card's account (`toAccount`, kept in the intent for a retry): a
 * forged card whose handle is someone else's is refused before any money moves. It names the card
 * (`card`, its nonce prefix, kept in the intent too): the server binds the receipt to it, and only
 * that counter's Shop mode announces the payment. Refused, nothing written or sent, while a send
 * to the same shop has no answer (checked in the transaction that writes the intent).
 */
async function payOnline(app, card, minor, line, button) {
  const toAccount = Number(card.payee);
  const prefix = hex(await cardNoncePrefix(card));
  let intent;
  try {
    intent = await beginSend(app.session.handle, { ...sendTo(card), amount: minor, memo: null, shop: card.name, card: prefix });
  } catch (e) {
    if (!(e instanceof UnansweredSendError)) throw e;
    line.textContent = e.reason;
    return;
  }
  try {
    const r = await runIntent(intent, (key) => api.transfer(app.session.token, key, card.handle, minor, undefined, toAccount, prefix));
    app.me = { ...(app.me ?? {}), balance: r.balance };
    app.showResult({ ok: true, summary: `Paid ${app.money(minor)} to ${card.name}. Your balance is now ${app.money(r.balance)}.`,
      details: await receiptForShop(app, r.transfer?.entry_id, minor, card) });
  } catch (e) {
    app.handleError(e);
    // The session ended (401): the login page is shown; the intent stays for the next login.
    if (!app.session) return;
    if ((await pendingIntents(app.session.handle, "send")).some((i) => i.key === intent.key)) {
      // No answer: Send shows it as unfinished, to be checked and finished with the same key.
      line.textContent = `${e.reason ?? e.message} The payment may have been sent: open Send to check and finish it.`;
      button.disabled = true;
      return;
    }
    app.showResult({ ok: false, reason: e.reason ?? e.message, summary: `${app.money(minor)} to ${card.name} was not paid.`, retry: "#/pay" });
  }
}

/**
 * The server's signed receipt of the payment (GET /v1/receipts/{id}?card=…) as a QR code: a shop
 * with no connection scans it and checks it offline (docs/PROTOCOL.md 4.6). It names the card
 * scanned, so only that counter takes it. A shop that is online sees the payment arrive by itself,
 * so a receipt that cannot be fetched only says so.
 */
async function receiptForShop(app, entryId, minor, card) {
  if (!entryId) return null;
  try {
    const { receipt } = await api.receipt(app.session.token, entryId, hex(await cardNoncePrefix(card)));
    const box = h("textarea", { readonly: true, rows: "4", id: "shop-receipt", "aria-label": "Receipt for the shop" });
    box.value = receipt;
    return h("div", { "data-testid": "shop-receipt" },
      h("p", {}, "If the shop has no connection, let it scan this receipt: the server signed it, so the shop can check it offline."),
      qrFigure(receipt, `QR code of the receipt for ${app.money(minor)}`),
      h("label", { for: "shop-receipt" }, "Receipt for the shop"), box);
  } catch {
    return h("p", { class: "hint" }, "The receipt could not be fetched. A shop that is online sees the payment by itself.");
  }
}

/** Signs (or finds) the card note of `intent` and shows it for the shop to scan. */
async function payOffline(app, section, intent) {
  const card = fromText("card", intent.cardText);
  const show = (text) => {
    section.replaceChildren(title("Show this to the shop"),
      h("p", { "data-testid": "card-paid" }, `You paid ${app.money(intent.amount)} to ${card.name} from your offline purse. Let the shop scan this code.`),
      ...noteDisplay(app, intent.amount, text),
      h("p", { class: "hint" }, "If the shop could not scan it, open this payment in your history to show the note again."));
    section.querySelector("h1").focus();
  };
  try {
    show((await payCard(app.session.handle, intent)).text);
  } catch (e) {
    // `busy`: the purse changed while this tap was signed. The storing transaction already returns
    // a note stored for this tap, so none is expected; looked up anyway, so that "not paid" is
    // never said over a stored note.
    const stored = e.code === "busy" ? await storedCardPayment(app.session.handle, intent).catch(() => null) : null;
    if (stored) { show(stored.text); return; }
    await dropCardPayment(app.session.handle, intent.id).catch(() => {});
    app.showResult({ ok: false, reason: e.reason ?? e.message, summary: `${app.money(intent.amount)} to ${card.name} was not paid.`, retry: "#/pay" });
  }
}

/**
 * A card payment confirmed but not finished (the page closed before its note was stored): the
 * same tap is finished with the same nonce (one note at most), or dropped. Null when there is none.
 */
export async function unfinishedCard(app, section) {
  const intent = await unfinishedCardPayment(app.session.handle);
  if (!intent) return null;
  let name = "the shop";
  try { name = fromText("card", intent.cardText).name; } catch { /* shown as "the shop" */ }
  const box = h("div", { class: "card", role: "group", "aria-label": "Unfinished card payment", "data-testid": "unfinished-card" },
    h("p", {}, "Your payment of ", h("strong", {}, app.money(intent.amount)), ` to ${name} was confirmed but its payment code was not shown.`),
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: (e) => { e.currentTarget.disabled = true; payOffline(app, section, intent); } }, "Finish payment"),
      h("button", { type: "button", class: "secondary", onclick: async () => { await dropCardPayment(app.session.handle, intent.id); box.remove(); } }, "Cancel it")));
  return box;
}
