// Card notes refused at this shop's counter that the server would still pay, given back to the
// payer: refused for a clock (the payer's too far from this phone's, `stale_note`, or the purse's
// dates judged by this phone's clock, `certificate_expired` and `certificate_not_yet_valid`), for
// this shop's own retired card (`wrong_card`: a card this user made on this device and replaced,
// so no other counter takes the note), for an issuer key this device does not know yet
// (`unknown_issuer_key`), or because this phone's cached revocation list has the payer's purse or
// phone (`revoked`: money was spent twice from it; the server still pays such a note, from the
// purse's reserve, then the payer's balance, then the operator's loss allowance, so a note
// refused here and paid anyway would take money the purse's honest payees need). The payer's
// phone signed the note, and the server pays it to the shop when that phone syncs (it looks at
// neither clock, card nor revocation, and knows every issuer key), while
// the customer, told "refused", pays again another way. This phone keeps each such note (IndexedDB
// `refusals`, keyed by note hash, with its nonce, which then counts as seen: written before the
// refusal is shown, shop.js) and sync sends it with `POST /v1/notes/refusals` (sync.js), before
// it uploads notes: the server then never pays it, or moves what it paid back from the shop to
// the payer, once. Pure: the record, how an answer is judged, the sentences.

import { REASONS } from "../protocol/accept.js";
import { fromText } from "../protocol/objects.js";
import { fromHex, hex } from "../protocol/crypto.js";

/** The counter refusal kept and sent back that a record names by default (the payer's clock). */
export const RETURNED_REASON = "stale_note";

/** How the counter goes on after saying why it refused a note it keeps to give back. */
const GIVEN_BACK = "The shop does not keep this payment: when this device is next online it gives it back to the payer "
  + "(taking it back from the shop's balance if the payer's phone was online first).";

/**
 * The counter refusals kept and sent back, each with what the counter says when it kept the note
 * (a note refused for one of these reasons but NOT kept is refused with REASONS' sentence). Which
 * notes are kept depends on the note, not only on the reason (shop.js acceptCard): one refused for
 * a clock, an unknown issuer key or a revoked purse or phone when it passes the other checks, one
 * refused as `wrong_card` only when it was made for this shop's retired card (isClockReason,
 * isKeptReason). The others
 * are kept by nobody: a note for another card may be paid at the right counter, a nonce a note
 * taken or a request here has is the same payment shown twice, and the server refuses the rest
 * too; but a note repeating only a kept note's nonce is kept as `nonce_replayed` when it passes
 * the re-check with that nonce set aside, saying REPEATS_A_REFUSED_CODE (shop.js nonceSetAside).
 */
export const KEPT_SENTENCES = {
  stale_note: REASONS.stale_note,
  certificate_expired: "The payer's purse has ended by this device's clock, so this counter does not take the code. "
    + `${GIVEN_BACK} If this device's date and time are right, the payer must pay another way or load a new purse; `
    + "if they are wrong, set them right and ask the payer for a new code.",
  certificate_not_yet_valid: "The payer's purse starts later than this device's clock says, so this counter does not take the code. "
    + `${GIVEN_BACK} This device's clock is probably behind: set its date and time right and ask the payer for a new code.`,
  wrong_card: "This code was made for this shop's old card, which this counter no longer takes. "
    + `${GIVEN_BACK} Ask the payer to scan the shop's current card and pay again.`,
  unknown_issuer_key: "This payment's purse was issued with a key this device does not know yet, so this counter cannot check it and does not take it. "
    + `${GIVEN_BACK} Ask the payer to pay another way, and take this device online when you can.`,
  revoked: "The operator revoked the payer's purse or phone (money was spent twice from it), so this counter does not take the payment. "
    + `${GIVEN_BACK} Ask the payer to pay another way.`,
};

/** The clock's refusals: whenever a note refused for one passes the other checks with the time set aside, it is kept. */
const CLOCK_REASONS = new Set(["stale_note", "certificate_expired", "certificate_not_yet_valid"]);

/** Is `code` a refusal for a clock (the payer's, or the purse's dates by this phone's)? */
export const isClockReason = (code) => CLOCK_REASONS.has(code);

/**
 * Is `code` a reason a note may be refused AND kept for (a KEPT_SENTENCES code)? Not that every
 * note refused for it is kept: see KEPT_SENTENCES (a `wrong_card` note only for a retired card).
 */
export const isKeptReason = (code) => Object.hasOwn(KEPT_SENTENCES, code);

/**
 * The reason of the notes kept without checking their purse certificate (this device does not
 * know its issuer key): their purse id may be forged, so they are no entry of any purse's tally
 * (refusalEntry), lest a forged note make a genuine purse's notes look inconsistent here; once
 * this device knows the key and it verifies the certificate, the note joins its purse's tally
 * (wallet.js keptNowChecked and tallyOf), so the payer's fork of it is refused here.
 */
export const UNCHECKED_REASON = "unknown_issuer_key";

/**
 * Said (code `nonce_replayed`) when a card note repeats the nonce of a note refused at this
 * counter and kept to be given back (one kept with its certificate checked: heldNonce), and no
 * note accepted or request made here has it (shop.js replayedNonce; the terminal's
 * RepeatsARefusedCode). Nothing was received, so the counter must not say "already received".
 * Such a note is itself kept (reason `nonce_replayed`) when it passes the keeping re-check with
 * that nonce set aside (shop.js keepingCheck), so it is given back too if it was paid; when it
 * fails it, the server never pays it either: the sentence holds both ways.
 */
export const REPEATS_A_REFUSED_CODE = "This code repeats the number of a code refused at this counter, so this counter does not take it. "
  + "The shop does not keep this payment: if it was paid, it is given back to the payer at the next sync. "
  + "Hand over nothing for it and ask the payer to pay another way.";

/** Said when a note this phone refused before is shown again (a pending or returned refusal). */
export const REFUSED_HERE_BEFORE = "This payment code was refused at this counter and is being returned to the payer. Ask the payer for a new code.";

/** Said instead when the server refused to take that note back: it may be paid to this shop, so no new code yet. */
export const REFUSED_HERE_BEFORE_FAILED = "This payment code was refused at this counter before, but the server did not take it back (see Sync status). "
  + "Do not take a second payment for it until you have settled it with the payer.";

/** Said instead when the server refused to take it back because it is no valid payment (isNeverPaid): the payer can pay again. */
export const REFUSED_HERE_BEFORE_INVALID = "This payment code was refused at this counter before, and the server found it is not a valid payment: "
  + "it will never be paid. Ask the payer to pay another way.";

/** The sentence for a note shown again whose refusal record is `record`. */
export function refusedBeforeSentence(record) {
  if (record?.state !== "failed") return REFUSED_HERE_BEFORE;
  return isNeverPaid(record.failure?.code) ? REFUSED_HERE_BEFORE_INVALID : REFUSED_HERE_BEFORE_FAILED;
}

/**
 * The record kept for a note refused at the counter (store `refusals`, key `noteHash`):
 * {noteHash (hex), handle, text (as shown), amount (minor units), payer (account, decimal),
 * purseId (hex), nonce (hex; records kept before it have none: read from `text`, refusalNonce),
 * seq, prevHash (hex), cumulative (the note's place in its purse's chain, as in `received`
 * records; records kept before them have none: read from `text`, refusalEntry), reason (a
 * KEPT_SENTENCES code, or `nonce_replayed` for a note repeating a kept note's nonce; UNCHECKED_REASON:
 * the purse id and chain are the note's word only, and no tally entry), unchecked (true only on a
 * `nonce_replayed` record whose issuer key was unknown here: the same as UNCHECKED_REASON), refusedMs, state: pending | done | failed}. Once answered: `done`
 * ({status: voided | refunded, amount, payer, note}) or `failure` ({code, message}), and
 * `answeredMs`; `sentMs` is when it was last sent.
 */
export function refusalRecord({
  noteHash, handle, text, amount, payer, purseId, nonce, seq, prevHash, cumulative, reason = RETURNED_REASON, refusedMs = Date.now(), unchecked = false,
}) {
  if (!/^[0-9a-f]{64}$/.test(noteHash)) throw new Error("refusalRecord needs the note hash as 64 hex digits");
  if (!Number.isSafeInteger(amount) || amount <= 0) throw new Error("refusalRecord needs the amount in minor units");
  if (nonce !== undefined && !/^[0-9a-f]{32}$/.test(nonce)) throw new Error("refusalRecord needs the nonce as 32 hex digits");
  const chain = [seq, prevHash, cumulative];
  if (chain.some((x) => x !== undefined)) {
    if (!Number.isSafeInteger(seq) || seq < 1 || !/^[0-9a-f]{64}$/.test(prevHash) || !Number.isSafeInteger(cumulative) || cumulative < amount) {
      throw new Error("refusalRecord needs seq, prevHash (64 hex digits) and cumulative together");
    }
  }
  return {
    noteHash, handle, text: String(text).trim(), amount, payer: String(payer), purseId, ...(nonce === undefined ? {} : { nonce }),
    ...(seq === undefined ? {} : { seq, prevHash, cumulative }), reason, ...(unchecked && reason !== UNCHECKED_REASON ? { unchecked: true } : {}),
    refusedMs, state: "pending",
  };
}

/**
 * The nonce (hex) of a kept refusal's note: its `nonce`, else read from its note text (records
 * kept before refusals carried it); null if unreadable. Whether it counts as seen: heldNonce.
 */
export function refusalNonce(record) {
  if (typeof record?.nonce === "string") return record.nonce;
  try {
    return hex(fromText("note", record.text).nonce);
  } catch {
    return null;
  }
}

/**
 * A kept refusal's note as an entry of its purse's tally (docs/PROTOCOL.md section 9), like a
 * note received: {purseId (hex), seq, entry: {hash, prevHash, cumulative, amount}}, or null if
 * unreadable. Fields the record lacks (records kept before they were stored) are read from its
 * note text; the purse id is the record's, else the note's certificate's. A kept note counts in
 * the tally every later note of its purse is checked against (wallet.js tallyOf): the payer's
 * phone signed it and chains its next note on it, and were it left out, a payer who forks a purse
 * could have this note kept to be given back and another note with its sequence number taken.
 * A note kept unchecked (UNCHECKED_REASON: its certificate's issuer key was unknown here) is no
 * entry (null): its purse id may be forged (wallet.js tallyOf adds it once the cached issuer keys
 * verify its certificate).
 */
export function refusalEntry(record) {
  if (!joinsTally(record)) return null;
  let decoded = null;
  const note = () => (decoded ??= fromText("note", record.text));
  try {
    const hash = fromHex(record?.noteHash);
    if (!hash || hash.length !== 32 || !Number.isSafeInteger(record.amount)) return null;
    const purseId = typeof record.purseId === "string" && /^[0-9a-f]{32}$/.test(record.purseId) ? record.purseId : hex(note().certificate.purseId);
    const stored = Number.isSafeInteger(record.seq) && /^[0-9a-f]{64}$/.test(record.prevHash ?? "") && Number.isSafeInteger(record.cumulative);
    const seq = stored ? record.seq : note().seq;
    const prevHash = stored ? fromHex(record.prevHash) : note().prevHash;
    const cumulative = stored ? record.cumulative : note().cumulative;
    return { purseId, seq, entry: { hash, prevHash, cumulative, amount: record.amount } };
  } catch {
    return null;
  }
}

/**
 * Whether a kept refusal counts in its purse's tally as it is: not one kept with its certificate
 * unchecked (UNCHECKED_REASON), which joins only once its certificate verifies (wallet.js tallyOf).
 */
export const joinsTally = (record) => !isUnchecked(record);

/** Was a kept refusal kept with its certificate unchecked (UNCHECKED_REASON, or flagged `unchecked`)? */
export const isUnchecked = (record) => record?.reason === UNCHECKED_REASON || record?.unchecked === true;

/**
 * The nonce (hex) a kept refusal holds as seen (shop.js seenNonces, replayedNonce, wallet.js
 * storeAccepted): refusalNonce, but null for one kept with its certificate unchecked (isUnchecked).
 * Anyone can make such a note, with no purse, copying the nonce of a customer's genuine code from
 * its QR: were its nonce seen, the genuine code would be refused while the server still pays it.
 * Another note with a held nonce is refused as `nonce_replayed`, saying so (REPEATS_A_REFUSED_CODE)
 * unless a note accepted or a request has that nonce too.
 */
export const heldNonce = (record) => (isUnchecked(record) ? null : refusalNonce(record));

/** Whether a kept refusal is sent at the next sync: only a pending one (a done or failed one never again). */
export const awaitsSending = (record) => record?.state === "pending";

/** Error codes with which the server keeps the refusal for later (sent again at the next sync). */
const RETRY_CODES = new Set(["note_held", "insufficient_funds", "payer_balance_full", "account_frozen"]);

/**
 * How the answer to `POST /v1/notes/refusals` for the note `noteHash` is judged. `outcome` is
 * {answer} (the parsed 2xx body) or {error} (what api.js threw: an ApiError with `status`, `code`,
 * `message`, or anything else). Returns
 * - {kind: "done", status: "voided" | "refunded", amount, payer, note}: stop, the server took it back;
 * - {kind: "retry", code}: keep it pending and send it again at the next sync (no answer, an
 *   unreadable one, 408, 429, any 5xx, a session that ended, or a refusal of the moment, whatever
 *   its status: `note_held` (409), `insufficient_funds` (the shop's balance is lower than what
 *   the note paid it: 422), `payer_balance_full`, `account_frozen` (403));
 * - {kind: "final", code, message}: stop, the server will not take it back (any other 4xx:
 *   `malformed`, `not_payee`, `unknown_purse`, `refund_not_possible`, ...), with its words.
 */
export function judgeRefusalAnswer(outcome, noteHash) {
  if (outcome && "error" in outcome) {
    const e = outcome.error;
    const status = Number.isInteger(e?.status) ? e.status : 0;
    const code = typeof e?.code === "string" && e.code ? e.code : "no_answer";
    if (status < 400 || status >= 500) return { kind: "retry", code }; // no answer, an unreadable 2xx, or the server's trouble
    // 401: the session ended (sent again after the next login); 408 and 429: the server asks to wait.
    if (status === 401 || status === 408 || status === 429) return { kind: "retry", code };
    if (RETRY_CODES.has(code)) return { kind: "retry", code };
    const message = typeof e?.message === "string" && e.message ? e.message : `HTTP ${status}`;
    return { kind: "final", code, message };
  }
  const a = outcome?.answer;
  const payer = typeof a?.payer === "string" ? a.payer : Number.isSafeInteger(a?.payer) ? String(a.payer) : null;
  const readable = a && typeof a === "object"
    && (a.status === "voided" || a.status === "refunded")
    && Number.isSafeInteger(a.amount) && a.amount >= 0
    && payer !== null && /^\d+$/.test(payer)
    && (a.note === undefined || a.note === noteHash);
  if (!readable) return { kind: "retry", code: "unreadable_answer" };
  return { kind: "done", status: a.status, amount: a.amount, payer, note: noteHash };
}

/**
 * The record after `verdict` (judgeRefusalAnswer) at `nowMs`; a record already done or failed is
 * returned unchanged (an answer never undoes another), and a retry only notes when it was sent.
 */
export function afterAnswer(record, verdict, nowMs = Date.now()) {
  if (!awaitsSending(record)) return record;
  const sent = { ...record, sentMs: nowMs };
  if (verdict.kind === "done") {
    return { ...sent, state: "done", answeredMs: nowMs, done: { status: verdict.status, amount: verdict.amount, payer: verdict.payer, note: verdict.note } };
  }
  if (verdict.kind === "final") {
    return { ...sent, state: "failed", answeredMs: nowMs, failure: { code: verdict.code, message: verdict.message } };
  }
  return { ...sent, lastRetry: verdict.code };
}

/** `text` ending in a full stop (the server's messages may not). */
const asSentence = (text) => (/[.!?]$/.test(text) ? text : `${text}.`);

/** What the shop does about a refusal the server refused for good: give the money back itself. */
export const GIVE_BACK_YOURSELF = "If this payment reached this shop's balance, give it back to the payer yourself.";

/**
 * Said instead when the server refused with `refund_not_possible`: the operator paid fraud loss
 * for the note's purse (the payer spent its money twice, docs/decisions/counter-refusals.md), so
 * the money is the operator's, not the payer's, and the shop must not hand it to the payer.
 */
export const NOT_FOR_THE_PAYER = "The server will not give it back: the payer spent this purse's money twice, and the operator covered it. "
  + "Keep it; contact the operator if the payer asks.";

/**
 * The server's final codes for a note it will never pay, so there is nothing to give back:
 * `invalid_request` (the note fails the checks of a note on its own, its device signature, chain
 * start, cap or purse amount: the ledger's UnpayableNote; or is no payment note at all) and
 * `unknown_purse` (no purse of the server has its certificate: say a note kept with an issuer key
 * this device did not know, whose certificate was forged). docs/API-OFFLINE.md.
 */
const NEVER_PAID_CODES = new Set(["invalid_request", "unknown_purse"]);

/** Is `code` a final answer saying the note is no valid payment and will never be paid? */
export const isNeverPaid = (code) => NEVER_PAID_CODES.has(code);

/** Said instead when the server refused it as no valid payment (isNeverPaid): nothing reached the shop. */
export const NEVER_PAID = "The code was not a valid payment: it will never be paid to this shop, so there is nothing to give back.";

/**
 * What the notice after a sync says of the refusals sent (`counts`, sync.js sendRefusals: {done,
 * failed, neverPaid}), one sentence per kind, in order; none when nothing was answered. A note the
 * server found no valid payment (`neverPaid`, isNeverPaid) is not one that "could not be given
 * back": it was never paid to the shop, so there is nothing to give back (NEVER_PAID).
 */
export function refusalsSynced(counts) {
  const said = [];
  const n = (k) => (Number.isSafeInteger(counts?.[k]) && counts[k] > 0 ? counts[k] : 0);
  if (n("done")) said.push(`${n("done")} payment(s) refused at the counter given back to the payer.`);
  if (n("failed")) said.push(`${n("failed")} payment(s) refused at the counter could not be given back: see Sync status.`);
  if (n("neverPaid") === 1) said.push("1 code refused at the counter was not a valid payment: it was never paid to this shop, so there is nothing to give back.");
  if (n("neverPaid") > 1) {
    said.push(`${n("neverPaid")} codes refused at the counter were not valid payments: they were never paid to this shop, so there is nothing to give back.`);
  }
  return said;
}

/** What Sync status tells the shop to do about a refusal the server refused for good with `code`. */
export function afterFinalRefusal(code) {
  if (code === "refund_not_possible") return NOT_FOR_THE_PAYER;
  return isNeverPaid(code) ? NEVER_PAID : GIVE_BACK_YOURSELF;
}

/**
 * What Sync status says of a kept refusal, with `money(minor)` formatting amounts:
 * {text, code?}: "Returned ₹120.00 to account 1001 (refused at the counter)…" when the server took
 * it back, "To return: …, sent at the next sync" while pending, and the server's words when it
 * refused to take it back, with what the shop does then (afterFinalRefusal: give it back to the
 * payer itself, except for a double spender's purse, `refund_not_possible`, and for a note that is
 * no valid payment, isNeverPaid).
 */
export function refusalLine(record, money) {
  const payer = record.done?.payer ?? record.payer;
  const what = (amount) => `${money(amount)} to account ${payer} (refused at the counter)`;
  if (record.state === "done") {
    if (record.done.status === "refunded") {
      return { text: `Returned ${what(record.done.amount)}: the server took it back from this shop's balance.` };
    }
    return { text: `Returned ${what(record.amount)}: the server will not pay it to this shop, and the payer keeps it.` };
  }
  if (record.state === "failed") {
    return {
      text: `Not returned: ${what(record.amount)}. The server said: ${asSentence(record.failure.message)} ${afterFinalRefusal(record.failure.code)}`,
      code: record.failure.code,
    };
  }
  return { text: `To return: ${what(record.amount)}, sent at the next sync.` };
}
