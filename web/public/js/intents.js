// Money requests kept on the device before they are sent (docs/WEB.md, "Lost answers"): an
// online send or a purse load is written to IndexedDB with its Idempotency-Key first, and removed
// only once the server's answer is known (done or refused). If the answer is lost (no network,
// the page reloaded, the phone crashed), the intent stays pending; the person finishes it with the
// same key, and the server answers with the first outcome instead of moving money again. A new
// send or load always gets a new key.

import { ApiError, newIdempotencyKey } from "./api.js";
import { allFor, put, remove } from "./offline/db.js";

/** Records a new intent durably and returns it: {key, handle, kind, body, createdMs}. */
export async function beginIntent(handle, kind, body) {
  const intent = { key: newIdempotencyKey(), handle, kind, body, createdMs: Date.now() };
  await put("intents", intent);
  return intent;
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
 * True when `error` says the server did not do the request and never will with this key (a
 * refusal), so the intent can be forgotten; false when the outcome is unknown (no answer, a
 * server failure) or the request can simply be repeated later (session ended, rate limited).
 */
export function isRefusal(error) {
  if (!(error instanceof ApiError)) return false;
  return error.status >= 400 && error.status < 500 && ![401, 408, 429].includes(error.status);
}

/**
 * Runs `call(intent.key)` for a pending intent: on an answer or a refusal the intent is finished
 * (`onDone(answer)` first, so that what the answer brings is stored before the intent goes); on an
 * unknown outcome it stays pending and the error is thrown.
 */
export async function runIntent(intent, call, onDone = async () => {}) {
  let answer;
  try {
    answer = await call(intent.key);
  } catch (e) {
    if (isRefusal(e)) await finishIntent(intent);
    throw e;
  }
  await onDone(answer);
  await finishIntent(intent);
  return answer;
}
