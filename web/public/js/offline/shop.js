// Shop cards on this device (docs/PROTOCOL.md 4.5 and 16): the shop's own card ("my card", one
// per user on this device, kept in IndexedDB's `meta` store as `card.<handle>`; a new card
// replaces it, the old one is kept as retired, `cards.retired.<handle>`, and notes made for it
// are then refused with `wrong_card`, and kept to be given back), the
// customer's offline payment of a scanned card (a card note: nonce = the card's prefix + 12
// random bytes, drawn once per tap and kept with the intent, so a reload never signs a second
// note for the same tap; one tap at a time; never while an online payment to the same shop has
// no answer), and the shop's offline acceptance of a card note (seen nonces: every note accepted,
// every request made and every note kept to be given back on this device; the note is stored
// before success shows, its tally checked as it is; a note the server would still pay, refused
// for a clock, the payer's too far from this phone's or the purse's dates by this phone's, for one
// of my retired cards, for an issuer key this device does not know yet, or for a purse or phone
// on the cached revocation list, is kept to be given back to the payer before the refusal shows,
// counter-refusals.js).

import { allFor, atomic, get } from "./db.js";
import { deviceKey, sign } from "./device.js";
import { fromText, toText, encodeCard, hashOf, isShopName } from "../protocol/objects.js";
import {
  acceptCardNote, cardNoteFitsButForIssuer, checkReceipt, checkTally, verifyCard, cardNonce, cardNoncePrefix, RejectError, REASONS, RECEIPT_REASONS,
} from "../protocol/accept.js";
import { DecodeError } from "../protocol/wire.js";
import { hex, fromHex } from "../protocol/crypto.js";
import {
  accountOf, alreadyAccepted, cachedKeys, choosePurse, keptNowCheckedFor, nowSeconds, OfflineError, refusedHere, signAndStore, storeAccepted, tallyOf,
} from "./wallet.js";
import { heldNonce, isClockReason, KEPT_SENTENCES, refusalRecord, REPEATS_A_REFUSED_CODE, UNCHECKED_REASON } from "./counter-refusals.js";
import { paidNonce } from "./paid-once.js";
import { pendingIntents, samePayee } from "../intents.js";

/** How far the payer's clock may be from the shop's (16.3 row 11d), in seconds. */
export const CARD_WINDOW_S = 600n;

/** Said when a shop name breaks the rule of 4.5. */
export const BAD_SHOP_NAME = "A shop name is 1 to 48 bytes of text on one line, with no space at either end.";

const cardKey = (handle) => `card.${handle}`;
const retiredKey = (handle) => `cards.retired.${handle}`;
const intentKey = (handle) => `cardpay.${handle}`;

/** This user's current card on this device: {card (decoded), text, name, createdMs}, or null. */
export async function myCard(handle) {
  const rec = await get("meta", cardKey(handle)).catch(() => null);
  if (!rec?.v?.text) return null;
  try {
    return { ...rec.v, card: fromText("card", rec.v.text) };
  } catch {
    return null;
  }
}

/**
 * This user's retired cards on this device, the cards makeCard replaced ({card (decoded), text},
 * oldest first; an unreadable one is left out). Only this device ever had them, so no other
 * counter takes a note made for one: such a note is refused (`wrong_card`) but kept and given
 * back (acceptCard), as the server would pay it.
 */
export async function retiredCards(handle) {
  const rec = await get("meta", retiredKey(handle)).catch(() => null);
  const texts = Array.isArray(rec?.v?.texts) ? rec.v.texts : [];
  return texts.flatMap((text) => {
    try {
      return [{ text, card: fromText("card", text) }];
    } catch {
      return [];
    }
  });
}

/** The retired card of mine (retiredCards) whose nonce prefix `note`'s nonce starts with, or null. */
async function retiredCardFor(handle, note) {
  const prefix = hex(note.nonce.slice(0, 4));
  for (const retired of await retiredCards(handle)) {
    if (hex(await cardNoncePrefix(retired.card)) === prefix) return retired.card;
  }
  return null;
}

/**
 * Makes and keeps this user's card named `name` (replacing any earlier card, which joins the
 * retired cards in the same transaction): payee = my account, this device's key, my handle, the
 * server's currency, issued now.
 */
export async function makeCard(app, name) {
  if (!isShopName(name)) throw new OfflineError("bad_name", BAD_SHOP_NAME);
  const handle = app.session.handle;
  const account = await accountOf(app);
  if (account === null) throw new OfflineError("no_account", "Go online once so this device learns your account number.");
  const key = await deviceKey(handle);
  const fields = {
    payee: account, shopDeviceKey: key.publicKey, currency: app.config.currency, issuedAt: nowSeconds(), handle, name,
  };
  const card = await encodeCard(fields, (bytes) => sign(key, bytes));
  const text = toText(card);
  await atomic(["meta"], async (s, result) => {
    const old = (await result(s.meta.get(cardKey(handle))))?.v?.text;
    if (old) {
      const texts = (await result(s.meta.get(retiredKey(handle))))?.v?.texts ?? [];
      if (!texts.includes(old)) s.meta.put({ k: retiredKey(handle), v: { texts: [...texts, old] } });
    }
    s.meta.put({ k: cardKey(handle), v: { text, name, createdMs: Date.now() } });
  });
  return { card, text, name };
}

/** Is `text` (scanned or pasted) a shop card's text? */
export const isCardText = (text) => String(text).trim().startsWith("OPS1:");

/** Decodes and checks a scanned card (the customer's check, 16.1); OfflineError in words. */
export async function readCard(text, me = null) {
  let card;
  try {
    card = fromText("card", text);
  } catch (e) {
    if (e instanceof DecodeError) throw new OfflineError("malformed", "This is not an offpay shop card, or it is damaged.");
    throw e;
  }
  try {
    await verifyCard(card);
  } catch (e) {
    if (e instanceof RejectError) throw new OfflineError(e.code, e.message);
    throw e;
  }
  if (me !== null && card.payee === me) throw new OfflineError("own_card", "This is your own shop card. Ask the customer to scan it.");
  return card;
}

/** Said when a card payment is started while another one of this user is not finished. */
export const TAP_PENDING = "Another payment from your offline purse is not finished yet. Open Pay again to finish or cancel it first.";

/**
 * A new payment of `amount` for `cardText`, kept before anything is signed: {id, cardText, amount,
 * random (hex), createdMs}. Refused (OfflineError "tap_pending") while another tap of this user is
 * kept, in the transaction that would keep this one: one tap at a time, also across tabs.
 */
export async function beginCardPayment(handle, cardText, amount) {
  const intent = { id: crypto.randomUUID(), cardText: cardText.trim(), amount, random: hex(crypto.getRandomValues(new Uint8Array(12))), createdMs: Date.now() };
  await atomic(["meta"], async (s, result) => {
    if (await result(s.meta.get(intentKey(handle)))) throw new OfflineError("tap_pending", TAP_PENDING);
    s.meta.put({ k: intentKey(handle), v: intent });
  });
  return intent;
}

/** The card payment whose note was not stored yet (the page was closed between the tap and the note), or null. */
export async function unfinishedCardPayment(handle) {
  const rec = await get("meta", intentKey(handle)).catch(() => null);
  return rec?.v ?? null;
}

/** Forgets the card payment `id` the customer chose not to finish (nothing was signed for it); another tap is kept. */
export async function dropCardPayment(handle, id) {
  await atomic(["meta"], async (s, result) => {
    if ((await result(s.meta.get(intentKey(handle))))?.v?.id === id) s.meta.delete(intentKey(handle));
  });
}

/** The note stored for the card payment `intent` (found by its nonce), as payCard returns it again, or null. */
export async function storedCardPayment(handle, intent) {
  const card = fromText("card", intent.cardText);
  const nonceHex = hex(await cardNonce(card, fromHex(intent.random)));
  const r = (await allFor("sent", handle)).find((x) => paidNonce(x) === nonceHex);
  return r ? { text: r.text, noteHash: fromHex(r.noteHash), repeated: true, card } : null;
}

/**
 * Said when a card is paid offline while an online payment to its shop has no answer: that
 * payment may have been made, and "Check and finish" would complete it too.
 */
export const sentOnline = (name) => `Your online payment to ${name} did not get an answer from the server, so it may have been paid. `
  + "Check and finish it on Send when you are back online, before paying this shop again: paying it from your offline purse now could pay the shop twice.";

/** The same for a payment request: `name` is its payee (handle, or "account 12"). */
export const sentOnlineTo = (name) => `Your online payment to ${name} did not get an answer from the server, so it may have been paid. `
  + `Check and finish it on Send when you are back online, before paying ${name} again: paying from your offline purse now could pay twice.`;

/**
 * The send among `intents` (pending ones, ../intents.js) that pays the payee of `to`, a shop card
 * or a payment request (its account `payee` or its `handle`), or null.
 */
export function unansweredSendTo(to, intents) {
  const body = { to: to.handle ?? "", toAccount: Number(to.payee) };
  return intents.find((i) => i.kind === "send" && samePayee(i.body, body)) ?? null;
}

/** Throws OfflineError "sent_online" when one of `intents` is an unanswered send to `card`'s shop. */
function refuseIfSentOnline(card, intents) {
  if (unansweredSendTo(card, intents)) throw new OfflineError("sent_online", sentOnline(card.name));
}

/** Throws OfflineError "sent_online" when one of `intents` is an unanswered send to the payee of the request `req`. */
export function refuseRequestIfSentOnline(req, intents) {
  if (unansweredSendTo(req, intents)) throw new OfflineError("sent_online", sentOnlineTo(req.handle ?? `account ${req.payee}`));
}

/**
 * Refuses (OfflineError "sent_online") to pay `card` from the offline purse while an online
 * payment of this user to the same shop has no known outcome (docs/WALLET.md: a payment whose
 * outcome is unknown is never paid offline too).
 */
export async function refuseWhileSentOnline(handle, card) {
  refuseIfSentOnline(card, await pendingIntents(handle, "send"));
}

/**
 * Pays the card payment `intent` from the offline purse: signs note n+1 with nonce = card prefix +
 * the intent's random bytes and stores it with the purse state BEFORE returning it, deleting the
 * intent in the same transaction. The same intent run again (after a reload) returns the note it
 * already stored: one note per tap. Refused, nothing signed or stored, while an online payment to
 * the card's shop has no answer (refuseWhileSentOnline).
 */
export async function payCard(handle, intent) {
  const card = fromText("card", intent.cardText);
  const nonce = await cardNonce(card, fromHex(intent.random));
  const nonceHex = hex(nonce);
  const sameTap = (sent) => sent.find((r) => paidNonce(r) === nonceHex) ?? null;
  const shownAgain = (r) => ({ text: r.text, noteHash: fromHex(r.noteHash), repeated: true, card });
  const stored = await storedCardPayment(handle, intent);
  if (stored) return stored;
  await refuseWhileSentOnline(handle, card);
  const purse = await choosePurse(handle, intent.amount);
  const payment = { amount: intent.amount, payee: card.payee, nonce, currency: card.currency, payeeLabel: card.name, extra: { shop: card.name } };
  const r = await signAndStore(handle, purse, payment, {
    earlier: sameTap,
    stores: ["meta", "intents"],
    // The tap is finished in the transaction that stores its note, which looks again for an
    // unanswered online payment to the shop (another tab may have sent one meanwhile).
    alsoInTx: async (s, result) => {
      refuseIfSentOnline(card, await result(s.intents.index("handle").getAll(handle)));
      const pending = await result(s.meta.get(intentKey(handle)));
      if (pending?.v?.id === intent.id) s.meta.delete(intentKey(handle));
    },
  });
  if (r.earlier) return shownAgain(r.earlier);
  return { note: r.note, text: r.text, noteHash: r.noteHash, repeated: false, card };
}

/** The nonce (hex) of a `received` record: its `nonce`, else read from its note text; null if unreadable. */
function receivedNonce(r) {
  if (typeof r.nonce === "string") return r.nonce;
  try {
    return hex(fromText("note", r.text).nonce);
  } catch {
    return null;
  }
}

/**
 * Every nonce this user saw on this device (16.3): notes accepted, requests made, and notes
 * refused at this counter and kept to be given back (store `refusals`). A kept refusal's nonce
 * must count: were another note with it taken, the payer could upload both before this shop
 * syncs, the refused note would be paid and the taken one refused by the server
 * (`request_already_paid`), and giving the refused one back would leave the shop with nothing.
 * But not the nonce of a note kept with its certificate unchecked (counter-refusals.js heldNonce):
 * anyone can make one, with a nonce copied from a customer's genuine code.
 */
export async function seenNonces(handle) {
  const [received, requests, refusals] = await Promise.all([allFor("received", handle), allFor("requests", handle), allFor("refusals", handle)]);
  return new Set([...received.map(receivedNonce), ...requests.map((r) => r.nonce), ...refusals.map(heldNonce)].filter(Boolean));
}

/**
 * The `nonce_replayed` refusal of a card note whose nonce (hex `nonce`) this counter saw, by where
 * it saw it: `received` (records of notes accepted), `request` (the request made with it, if
 * any) and `refusals` (notes refused and kept to be given back). A note accepted or a request
 * has it: the payment was already received (REASONS.nonce_replayed). Only a kept refusal has it:
 * nothing was received, that note is being given back and nothing was paid for either
 * (REPEATS_A_REFUSED_CODE, the same code; the terminal's RepeatsARefusedCode; the error has
 * `onlyRefused: true`, and acceptCard keeps such a note too when it passes the keeping re-check with
 * the nonce set aside). A refusal kept with its certificate unchecked holds no nonce (heldNonce).
 * Null when none has it. Synchronous, so the storing transactions use it with what they read.
 */
export function replayedNonce(nonce, { received, request, refusals }) {
  if (request || received.some((r) => receivedNonce(r) === nonce)) return new OfflineError("nonce_replayed", REASONS.nonce_replayed);
  if (refusals.some((r) => heldNonce(r) === nonce)) return Object.assign(new OfflineError("nonce_replayed", REPEATS_A_REFUSED_CODE), { onlyRefused: true });
  return null;
}

/** replayedNonce for `note`'s nonce with what is stored now for `handle` (a request of another user counts as before, as in the storing transactions). */
async function replayedHere(handle, note) {
  const nonce = hex(note.nonce);
  const [received, request, refusals] = await Promise.all([allFor("received", handle), get("requests", nonce).catch(() => null), allFor("refusals", handle)]);
  return replayedNonce(nonce, { received, request, refusals }) ?? new OfflineError("nonce_replayed", REASONS.nonce_replayed);
}

/** Does `note`'s nonce start with my card's prefix? (false with no card) */
export async function isForMyCard(handle, note) {
  const mine = await myCard(handle);
  if (!mine) return false;
  return hex(note.nonce.slice(0, 4)) === hex(await cardNoncePrefix(mine.card));
}

/**
 * Accepts a decoded card note for my card (16.3) offline: runs acceptCardNote, then stores the
 * note (with its nonce, so it is never taken again) in one transaction that checks the nonce and
 * the purse tally once more (storeAccepted, which also refuses a nonce kept with a refusal),
 * BEFORE returning {amount, payer, noteHash}. A note refused for a clock, for one of my retired
 * cards, for an unknown issuer key or for a revoked purse or phone is kept to be given back when
 * it passes the other checks with the time set aside (keepingCheck, refuseAndGiveBack).
 * `tally` is the note's purse tally (wallet.js purseTally: the notes received from the purse and
 * those kept to give back, with those kept for an issuer key this device knows now). Throws
 * OfflineError with the reason.
 */
export async function acceptCard(app, note, text, tally) {
  const handle = app.session.handle;
  const mine = await myCard(handle);
  if (!mine) throw new OfflineError("wrong_card", REASONS.wrong_card);
  const ctx = {
    card: mine.card,
    seenNonces: await seenNonces(handle),
    window: CARD_WINDOW_S,
    ...(await cachedKeys()),
    now: nowSeconds(),
  };
  // Read after the seen nonces: a refusal of this very note kept meanwhile (another scan) puts its
  // nonce among them, and the note is then refused as refused here, not as a replay.
  const refused = await get("refusals", hex(await hashOf(note)));
  if (refused) throw refusedHere(refused);
  let ok;
  try {
    ok = await acceptCardNote(note, tally, ctx);
  } catch (e) {
    if (!(e instanceof RejectError)) throw e;
    const keeping = await keepingCheck(handle, note, ctx, e.code);
    if (keeping) await refuseAndGiveBack(handle, note, text, tally, keeping);
    // A nonce seen only among the kept refusals was never received: say so (replayedNonce).
    if (e.code === "nonce_replayed") throw await replayedHere(handle, note);
    throw new OfflineError(e.code, e.message);
  }
  const nonce = hex(ok.nonce);
  try {
    await storeAccepted(handle, note, ok, text, async (s, result) => {
      const [received, request] = await Promise.all([result(s.received.index("handle").getAll(handle)), result(s.requests.get(nonce))]);
      const replayed = replayedNonce(nonce, { received, request, refusals: [] });
      if (replayed) throw replayed;
    }, { nonce, card: true });
  } catch (e) {
    // A refusal with its nonce was kept meanwhile (another scan): nothing was taken; keep this one
    // too when it passes the re-check with the nonce set aside (its own transaction looks again).
    if (!e?.onlyRefused) throw e;
    const keeping = await keepingCheck(handle, note, ctx, "nonce_replayed");
    if (keeping) await refuseAndGiveBack(handle, note, text, tally, keeping);
    throw e;
  }
  return { amount: ok.amount, payer: ok.payer, noteHash: ok.noteHash, card: true, validUntil: Number(note.certificate.validUntil) };
}

/** A window no clock difference exceeds: with the note's own time as now, the card checks run with the time set aside. */
const ANY_TIME = 1n << 64n;

/**
 * The revocation list a kept note is checked with again: none. A note refused as `revoked` is
 * kept; for the other reasons the list was already checked before the step that failed, but for
 * the issuer's checks and the purse's dates, which come before it (a note of a revoked purse
 * refused for one of those is kept for it, as the terminal does).
 */
const NO_REVOCATIONS = Object.freeze({ purses: new Set(), devices: new Set() });

/**
 * How a card note acceptCardNote refused for `code` (with `ctx`) is checked to be kept and given
 * back, or null when it is not (the refusal stands): {reason (the KEPT_SENTENCES code it is kept
 * with), check (the card check to pass), ctx (the note's own time as now, any clock difference,
 * no revocation list, and the card it was made for), refuseAs (the code it is refused with when
 * the check, or the storing transaction's look at the nonces and the tally, fails, or null for the
 * check's own)}. The card is my retired card its nonce prefix names, if any (then the reason is
 * `wrong_card`, but for the reasons kept as they are), else my current card. A note drawn on the
 * shop's own account (its certificate's account is my card's payee) is never kept: it pays the
 * shop from itself, so there is nothing to give back (the server answers `not_payee`), and one
 * whose certificate is unchecked may be forged; it is refused with its first reason (as the
 * terminal does, fit_to_keep). Looked at:
 * - a clock (isClockReason): the note may also be for a retired card (the window is checked
 *   first), and with neither card it is refused as `wrong_card` by the check;
 * - `wrong_card`: only a note for one of my retired cards (a note for another card of the shop may
 *   be taken at its counter, and is not kept);
 * - `unknown_issuer_key`: checked without the issuer checks (cardNoteFitsButForIssuer), kept with
 *   that reason (also for a retired card: paying again at this counter would meet the same key).
 *   A note failing that check stays refused as `unknown_issuer_key`: refuseAs (as the terminal
 *   does, fit_to_keep). Its certificate is unchecked, so whatever else the check finds means
 *   nothing: a forger with no purse could make it say `wrong_card` (a note for another card of the
 *   shop) or `nonce_replayed` (another note's nonce), and the shop take that for a payment made;
 * - `revoked` (the cached revocation list has the note's purse or the payer's phone: money was
 *   spent twice from it): kept with that reason (also for a retired card: the payer must pay
 *   another way), as the server still pays such a note, from money the purse's honest payees
 *   need. The revocation list comes before the card's, cap's and tally's checks, so a note
 *   failing one of those too (the server may refuse it too, or another counter may take it) was
 *   first refused as `revoked`, and stays refused so: refuseAs `revoked` (as the terminal does,
 *   counter_refusals.rs fit_to_keep).
 * Every check runs without the revocation list (NO_REVOCATIONS).
 */
async function keepingCheck(handle, note, ctx, code) {
  if (note.certificate.account === ctx.card.payee) return null;
  // The note's own time as now, any clock difference, no revocation list.
  const atItsTime = (card) => ({ ...ctx, card, now: note.time, window: ANY_TIME, revocations: NO_REVOCATIONS });
  if (code === "nonce_replayed") {
    // Only a nonce held by nothing but kept refusals (not a note accepted or a request).
    if (!(await replayedHere(handle, note)).onlyRefused) return null;
    return nonceSetAside({ check: acceptCardNote, ctx: atItsTime(ctx.card), refuseAs: null }, note);
  }
  const unchecked = code === UNCHECKED_REASON;
  const revoked = code === "revoked";
  if (!unchecked && !revoked && code !== "wrong_card" && !isClockReason(code)) return null;
  const retired = await retiredCardFor(handle, note);
  if (code === "wrong_card" && !retired) return null;
  return {
    reason: unchecked || revoked ? code : retired ? "wrong_card" : code,
    check: unchecked ? cardNoteFitsButForIssuer : acceptCardNote,
    ctx: atItsTime(retired ?? ctx.card),
    refuseAs: unchecked || revoked ? code : null,
  };
}

/**
 * `keeping` (keepingCheck) for a note whose nonce only kept refusals hold, with that nonce set
 * aside (no longer among the seen nonces): kept as `nonce_replayed`, so that it is given back if
 * it was paid, like the other note; `unchecked` when its check is the unknown-key one (then no
 * entry of its purse's tally). A note failing it is refused as `keeping.refuseAs`, else as
 * `nonce_replayed` with REPEATS_A_REFUSED_CODE (the server never pays it: nothing to give back).
 */
function nonceSetAside(keeping, note) {
  const nonce = hex(note.nonce);
  return {
    ...keeping,
    reason: "nonce_replayed",
    unchecked: keeping.check === cardNoteFitsButForIssuer,
    ctx: { ...keeping.ctx, seenNonces: new Set([...keeping.ctx.seenNonces].filter((n) => n !== nonce)) },
    refuseAs: keeping.refuseAs ?? "nonce_replayed",
    nonceAside: true,
  };
}

/** The refusal of a note refused as `code` by the counter's keeping checks. */
const refusalAs = (code, message) => new OfflineError(code, code === "nonce_replayed" ? REPEATS_A_REFUSED_CODE : REASONS[code] ?? message);

/**
 * The counter refuses the card note `note` (text `text`) for `keeping.reason` (keepingCheck): a
 * clock, the payer's more than CARD_WINDOW_S from this phone's (`stale_note`) or the purse's
 * dates not holding by this phone's (`certificate_expired`, `certificate_not_yet_valid`); one of
 * my retired cards (`wrong_card`); an issuer key this device does not know yet
 * (`unknown_issuer_key`); or a purse or phone on the cached revocation list (`revoked`). The
 * payer's phone signed it, and the server looks at neither clock nor card, knows every issuer key
 * and still pays a revoked purse's notes, so it would still pay it to this shop when that phone syncs:
 * this phone keeps it (store `refusals`, state pending, with its nonce) BEFORE the refusal is
 * shown, and sync gives it back to the payer (`POST /v1/notes/refusals`, sync.js). Kept only when
 * the note passes `keeping.check` with `keeping.ctx`, every check with the time set aside (the
 * note's own time as now, any clock difference) and without the revocation list, against the card
 * it was made for, and without the issuer checks for an unknown issuer key: a note the server
 * refuses anyway, or whose own time is outside its purse's dates (no honest payer's phone signs
 * that), is refused with that reason instead (one refused for an unknown issuer key or as revoked
 * stays refused so, `keeping.refuseAs`), and nothing is kept. The transaction that keeps it looks
 * again for the note among those accepted (another tab or scan may have taken it meanwhile:
 * `already_accepted`) and refused (`refused_here_before`), and for its nonce among the notes
 * accepted, the requests made and the other notes kept (`nonce_replayed`, said as replayedNonce
 * says it), so a note is never both taken and given back, nor given back while another with its
 * nonce is taken, and checks it against its purse's tally as stored then, the notes accepted and
 * those kept (`inconsistent_with_earlier_note`, `over_purse_amount`: a note contradicting one
 * kept, another branch of a forked purse, is refused for that, and not kept); that tally has the
 * notes kept for an issuer key this device knows now too (wallet.js keptNowChecked, read before
 * the transaction, as IndexedDB allows no other awaits in it). A note with `keeping.refuseAs`
 * failing the nonce or the tally look there is refused with that code too.
 * A note kept for an unknown issuer key is no entry of its purse's tally while this device does
 * not know the key (its purse id may be forged: counter-refusals.js joinsTally), though its nonce
 * counts as seen; once the cached issuer keys verify its certificate it joins the tally
 * (wallet.js tallyOf), so the payer's fork of it is refused here.
 * A note whose nonce only other kept refusals hold (replayedNonce `onlyRefused`: by the check, or by
 * the transaction's look) is kept too, as `nonce_replayed` (nonceSetAside), when it passes the
 * check with that nonce set aside: the server may pay it once the other is given back.
 * Always throws; the error has `kept: true` when the note was kept.
 */
async function refuseAndGiveBack(handle, note, text, tally, keeping) {
  try {
    await keeping.check(note, tally, keeping.ctx);
  } catch (e) {
    if (!(e instanceof RejectError)) throw e;
    if (e.code === "nonce_replayed" && !keeping.nonceAside) {
      const replayed = await replayedHere(handle, note);
      if (replayed.onlyRefused) return refuseAndGiveBack(handle, note, text, tally, nonceSetAside(keeping, note));
      throw keeping.refuseAs ? refusalAs(keeping.refuseAs) : replayed;
    }
    throw refusalAs(keeping.refuseAs ?? e.code, e.message);
  }
  const refuseAs = (e) => (keeping.refuseAs ? refusalAs(keeping.refuseAs) : e);
  const nonce = hex(note.nonce);
  const fields = {
    noteHash: hex(await hashOf(note)), handle, text, amount: note.amount, payer: note.certificate.account,
    purseId: hex(note.certificate.purseId), nonce, seq: note.seq, prevHash: hex(note.prevHash), cumulative: note.cumulative,
  };
  let record = refusalRecord({ ...fields, reason: keeping.reason, unchecked: keeping.unchecked === true });
  const entry = { hash: fromHex(record.noteHash), prevHash: note.prevHash, cumulative: note.cumulative, amount: note.amount };
  const checkedNow = await keptNowCheckedFor(handle, note);
  await atomic(["received", "refusals", "requests"], async (s, result) => {
    const copy = await result(s.received.get(record.noteHash));
    if (copy) throw alreadyAccepted(copy, handle);
    const earlier = await result(s.refusals.get(record.noteHash));
    if (earlier) throw refusedHere(earlier);
    const [received, refusals, request] = await Promise.all([
      result(s.received.index("handle").getAll(handle)), result(s.refusals.index("handle").getAll(handle)), result(s.requests.get(nonce)),
    ]);
    const replayed = replayedNonce(nonce, { received, request, refusals });
    // Another note with its nonce kept meanwhile: this one passed the check, which the nonce set aside only eases; kept too.
    if (replayed?.onlyRefused) {
      record = refusalRecord({ ...fields, reason: "nonce_replayed", unchecked: keeping.check === cardNoteFitsButForIssuer, refusedMs: record.refusedMs });
    } else if (replayed) {
      throw keeping.nonceAside && keeping.refuseAs === "nonce_replayed" ? replayed : refuseAs(replayed);
    }
    try {
      checkTally(tallyOf(note, received.filter((r) => r.purseId === record.purseId), refusals, checkedNow), note.certificate, note.seq, entry);
    } catch (e) {
      if (e instanceof RejectError) throw refuseAs(new OfflineError(e.code, e.message));
      throw e;
    }
    s.refusals.put(record);
  });
  const { reason } = record;
  const kept = new OfflineError(reason, reason === "nonce_replayed" ? REPEATS_A_REFUSED_CODE : KEPT_SENTENCES[reason]);
  kept.kept = true;
  throw kept;
}

/** How old a receipt the shop takes may be, by the server's time against this phone's clock (seconds). */
export const RECEIPT_MAX_AGE_S = 600n;

const receiptsKey = (handle) => `receipts.${handle}`;

/**
 * Whether `cardHex` (a `money_in` event's `card`: the nonce prefix of the card a counter payment
 * paid) is this device's card: only that counter announces the payment (Shop mode).
 */
export async function isMyCounter(handle, cardHex) {
  const mine = await myCard(handle);
  return Boolean(mine) && typeof cardHex === "string" && hex(await cardNoncePrefix(mine.card)) === cardHex;
}

/**
 * Records that Shop mode announced online payment `entryId` here (a live `money_in` event made
 * at this counter's card): the customer's receipt of the same payment is then refused as
 * `receipt_replayed`, so one payment is never taken twice, once announced and once from its
 * receipt. A payment not announced here is not recorded: its receipt is the shop's only word.
 * Resolves to true when the payment is new here, false when it was recorded before (announced
 * already, or taken from its receipt, maybe before a reload): only a new one is announced.
 */
export async function markPaymentReceived(handle, entryId) {
  const entry = String(entryId);
  return atomic(["meta"], async (s, result) => {
    const list = (await result(s.meta.get(receiptsKey(handle))))?.v ?? [];
    if (list.includes(entry)) return false;
    s.meta.put({ k: receiptsKey(handle), v: [...list, entry] });
    return true;
  });
}

/** Is `text` (scanned or pasted) a server receipt's text (`OPT2:`, docs/PROTOCOL.md 4.6)? */
export const isReceiptText = (text) => String(text).trim().startsWith("OPT2:");

/**
 * The shop's offline check of a customer's receipt for an online payment (checkReceipt: issuer
 * key cached here, its window, the signature, payee is me, my currency, it names this device's
 * card (so another counter of the shop refuses it), not seen before, at most RECEIPT_MAX_AGE_S
 * old). A device with no card takes no receipt. The entry id is stored in the same transaction that checks it once
 * more, BEFORE success is shown: {amount, payer, payerHandle, entryId, receipt: true}.
 * Throws OfflineError with the reason.
 */
export async function acceptReceipt(app, text) {
  const handle = app.session.handle;
  let receipt;
  try {
    receipt = fromText("receipt", text);
  } catch (e) {
    if (e instanceof DecodeError) throw new OfflineError("malformed", "This is not an offpay receipt, or it is damaged.");
    throw e;
  }
  const me = await accountOf(app);
  if (me === null) throw new OfflineError("no_account", "Go online once so this device learns your account number.");
  const mine = await myCard(handle);
  if (!mine) throw new OfflineError("wrong_card", "This device has no shop card yet, so it takes no receipts. Make the shop card first.");
  const seen = (await get("meta", receiptsKey(handle)).catch(() => null))?.v ?? [];
  const ctx = {
    me,
    currency: app.config.currency,
    cardPrefix: await cardNoncePrefix(mine.card),
    issuerKeys: (await cachedKeys()).issuerKeys,
    seenEntries: new Set(seen.map(BigInt)),
    now: nowSeconds(),
    maxAge: RECEIPT_MAX_AGE_S,
  };
  try {
    await checkReceipt(receipt, ctx);
  } catch (e) {
    if (e instanceof RejectError) throw new OfflineError(e.code, RECEIPT_REASONS[e.code] ?? e.message);
    throw e;
  }
  const entry = receipt.entryId.toString();
  await atomic(["meta"], async (s, result) => {
    const list = (await result(s.meta.get(receiptsKey(handle))))?.v ?? [];
    if (list.includes(entry)) throw new OfflineError("receipt_replayed", REASONS.receipt_replayed);
    s.meta.put({ k: receiptsKey(handle), v: [...list, entry] });
  });
  return { amount: receipt.amount, payer: receipt.payer, payerHandle: receipt.payerHandle ?? null, entryId: receipt.entryId, receipt: true };
}
