// Money requests kept on the device before they are sent (docs/WEB.md, "Lost answers"): an
// online send or a purse load is written to IndexedDB with its Idempotency-Key first, and removed
// only once the server's answer is known (done or refused). If the answer is lost (no network,
// the page reloaded, the phone crashed), the intent stays pending; the person finishes it with the
// same key, and the server answers with the first outcome instead of moving money again. A new
// send or load always gets a new key. A new send is refused while a send to the same payee has no
// answer (beginSend: the look and the write are one transaction, so a second tab cannot slip by).

import { ApiError, newIdempotencyKey } from "./api.js";
import { allFor, atomic, put, remove } from "./offline/db.js";

/**
 * Records a new intent durably and returns it: {key, handle, kind, body, createdMs}, marked
 * `fresh` (in memory only) until its first request: an intent read back from storage, or sent
 * once already, is a retry of a key whose earlier outcome may be unknown (see isRefusal).
 */
export async function beginIntent(handle, kind, body) {
  const intent = { key: newIdempotencyKey(), handle, kind, body, createdMs: Date.now() };
  await put("intents", intent);
  return { ...intent, fresh: true };
}

/** Do the sends `a` and `b` (intent bodies) pay the same payee: the same handle, or the same account named? */
export function samePayee(a, b) {
  const to = String(a?.to ?? "").toLowerCase();
  return (to !== "" && to === String(b?.to ?? "").toLowerCase())
    || (Number.isSafeInteger(a?.toAccount) && a.toAccount === b?.toAccount);
}

/** Said when a payment is refused because an earlier send to the same payee has no answer yet. */
export const unansweredSend = (name) => `A payment to ${name} has no answer yet: open Send to finish it.`;

/** A new send refused while `intent`, a send with no answer, may already have paid the same payee. */
export class UnansweredSendError extends Error {
  constructor(intent) {
    super(unansweredSend(intent.body?.shop ?? intent.body?.to));
    this.code = "unanswered_send";
    this.reason = this.message;
    this.intent = intent;
  }
}

/**
 * Records a new send intent (as beginIntent) in one transaction that first looks for a send of
 * this user with no answer that `blocks` it (by default: one to the same payee, samePayee). When
 * there is one, nothing is written and UnansweredSendError (naming it) is thrown. IndexedDB runs
 * read-write transactions over one store one after the other, in every tab.
 */
export async function beginSend(handle, body, blocks = (pending) => samePayee(pending.body, body)) {
  const intent = { key: newIdempotencyKey(), handle, kind: "send", body, createdMs: Date.now() };
  await atomic(["intents"], async (s, result) => {
    const earlier = (await result(s.intents.index("handle").getAll(handle))).find((i) => i.kind === "send" && blocks(i));
    if (earlier) throw new UnansweredSendError(earlier);
    s.intents.put(intent);
  });
  return { ...intent, fresh: true };
}

/** This user's send with no answer to the payee of `body` (samePayee), or null. */
export async function pendingSendTo(handle, body) {
  return (await pendingIntents(handle, "send")).find((i) => samePayee(i.body, body)) ?? null;
}

/** This user's intents of `kind` whose outcome is not known, oldest first. */
export async function pendingIntents(handle, kind) {
  const list = await allFor("intents", handle);
  return list.filter((i) => i.kind === kind).sort((a, b) => a.createdMs - b.createdMs);
}

/** The outcome is known: the intent is forgotten. */
export function finishIntent(intent) {
  return remove("intents", intent.key);
}

/**
 * The error codes that settle a key sent again after an attempt whose outcome is unknown: the
 * ledger's refusals kept under the key, and refusals of the request's own bytes (which the earlier
 * attempt got too). The same list as the terminal wallet's KEY_SETTLING_CODES
 * (crates/wallet/src/client/error.rs; docs/WALLET.md, "Which answers settle a retried key").
 */
export const KEY_SETTLING_CODES = [
  "idempotency_conflict", "insufficient_funds", "unknown_user", "same_account", "payee_mismatch",
  "too_many_purses", "invalid_request", "invalid_amount", "invalid_handle", "invalid_memo",
  "invalid_idempotency_key", "missing_idempotency_key", "invalid_certificate", "invalid_device_key",
];

/**
 * For a purse load sent again, also these (the terminal wallet's LOAD_SETTLING_CODES): a lasting
 * refusal of every load (limit lowered, device revoked, account frozen).
 * Left pending, the load could never be finished nor dropped; closing it is safe, since a load
 * moves money only into the user's own purse, which returns it at its settlement deadline.
 */
export const LOAD_SETTLING_CODES = ["offline_limit", "device_revoked", "unknown_device", "account_frozen"];

/**
 * True when `error` says the server did not do the request and never will with this key (a
 * refusal), so the intent can be forgotten; false when the outcome is unknown (no answer, a
 * server failure) or the request can simply be repeated later (session ended, rate limited).
 * For a key sent again (`reused`: an earlier attempt may have paid), only the server's own verdict
 * on the key counts (KEY_SETTLING_CODES): its 408 (the key was never read), a proxy's or
 * firewall's error page (code "internal"), a limit of its configuration or a code this wallet
 * does not know leave the intent pending, or the person would be told "not sent" and pay again.
 */
export function isRefusal(error, reused = true, kind = "send") {
  if (!(error instanceof ApiError)) return false;
  if (!(error.status >= 400 && error.status < 500) || [401, 408, 429].includes(error.status)) return false;
  return !reused || KEY_SETTLING_CODES.includes(error.code) || (kind === "load" && LOAD_SETTLING_CODES.includes(error.code));
}

/**
 * Runs `call(intent.key)` for a pending intent: on an answer or a refusal the intent is finished
 * (`onDone(answer)` first, so that what the answer brings is stored before the intent goes); on an
 * unknown outcome it stays pending and the error is thrown.
 */
export async function runIntent(intent, call, onDone = async () => {}) {
  const reused = !intent.fresh;
  intent.fresh = false;
  let answer;
  try {
    answer = await call(intent.key);
  } catch (e) {
    if (isRefusal(e, reused, intent.kind)) await finishIntent(intent);
    throw e;
  }
  await onDone(answer);
  await finishIntent(intent);
  return answer;
}
