// Closing this device's offline purses (online), as `offpay wallet purse close` does: sign a close
// statement counting every note paid so far, store it with its idempotency key and mark the
// purse "closing" in one transaction (from then on it pays nothing), and only then send it. The
// server returns the unspent rest at once and keeps what unsettled notes need. A failed send is
// retried with the same statement and key, so the close happens at most once.

import { allFor, atomic } from "./db.js";
import { deviceKey, sign } from "./device.js";
import { offlineApi } from "./client.js";
import { OfflineError, openPurses, nowSeconds } from "./wallet.js";
import { ApiError, newIdempotencyKey } from "../api.js";
import { fromText, toText } from "../protocol/objects.js";
import { closeStatement, CloseError } from "../protocol/close.js";

/** Plain words for the close endpoint's refusals (docs/API-OFFLINE.md). */
const REFUSED = {
  invalid_close: "The server did not accept this device's close statement.",
  unknown_purse: "The server does not know this purse.",
  idempotency_conflict: "The server has a different close for this purse. Try again later.",
};

/** Purses the person can close now: open ones, and those whose close was not finished. */
export async function closablePurses(handle) {
  const open = await openPurses(handle);
  const unfinished = (await allFor("purses", handle)).filter((p) => p.status === "closing");
  return [...unfinished, ...open];
}

/**
 * What closing would do, from what this device knows: `back` returns to the balance now (what
 * the purses did not spend), `reserved` stays for payments this device made that have not
 * settled yet (`waiting` of them).
 */
export async function closePreview(handle) {
  const [purses, sent] = await Promise.all([closablePurses(handle), allFor("sent", handle)]);
  let back = 0;
  let reserved = 0;
  let waiting = 0;
  for (const p of purses) {
    const notes = sent.filter((n) => n.purseId === p.purseId);
    const settled = notes.filter((n) => n.settled).reduce((sum, n) => sum + n.amount, 0);
    back += p.amount - p.spent;
    reserved += Math.max(0, p.spent - settled);
    waiting += notes.filter((n) => !n.settled).length;
  }
  return { purses, back, reserved, waiting };
}

async function update(purseId, changes) {
  await atomic(["purses"], async (s, result) => {
    const current = await result(s.purses.get(purseId));
    if (current) s.purses.put({ ...current, ...changes });
  });
}

/** Signs and stores the close statement of an open purse; afterwards the purse pays nothing. */
async function beginClose(handle, purse) {
  const cert = fromText("certificate", purse.certText);
  const key = await deviceKey(handle);
  const state = { purseId: cert.purseId, lastSeq: purse.seq, lastHash: purse.lastHash, spent: purse.spent };
  let close;
  try {
    close = await closeStatement(cert, state, key.publicKey, nowSeconds(), (bytes) => sign(key, bytes));
  } catch (e) {
    if (e instanceof CloseError) throw new OfflineError("wrong_device", "This purse belongs to another device key on this phone; it cannot be closed here.");
    throw e;
  }
  const closeText = toText(close);
  const closeKey = newIdempotencyKey();
  await atomic(["purses"], async (s, result) => {
    const current = await result(s.purses.get(purse.purseId));
    if (!current || current.status !== "active" || current.seq !== purse.seq) {
      throw new OfflineError("busy", "The purse changed while closing. Try again.");
    }
    s.purses.put({ ...current, status: "closing", closeText, closeKey });
  });
  return { closeText, closeKey };
}

/** The server says the purse is no longer open: take its state from GET /v1/purses. */
async function adoptServerState(app, purse) {
  const list = (await offlineApi.purses(app.session.token))?.purses ?? [];
  const known = list.find((p) => p.purse_id === purse.purseId);
  const state = ["closed", "expired", "revoked"].includes(known?.state) ? known.state : "closed";
  const held = Number.isSafeInteger(known?.held) ? known.held : 0;
  await update(purse.purseId, { status: state, held });
  return { returned: 0, held, balance: null, fraud: state === "revoked" };
}

async function closeOne(app, purse) {
  const handle = app.session.handle;
  const { closeText, closeKey } = purse.status === "closing" && purse.closeText && purse.closeKey
    ? purse
    : await beginClose(handle, purse);
  let r;
  try {
    r = await offlineApi.closePurse(app.session.token, closeKey, purse.purseId, closeText);
  } catch (e) {
    if (e instanceof ApiError && e.code === "purse_not_open") return adoptServerState(app, purse);
    if (e instanceof ApiError && REFUSED[e.code]) e.reason = REFUSED[e.code];
    throw e;
  }
  const returned = Number.isSafeInteger(r?.returned) ? r.returned : 0;
  const held = Number.isSafeInteger(r?.held) ? r.held : 0;
  await update(purse.purseId, { status: r?.fraud ? "revoked" : "closed", returned, held });
  return { returned, held, balance: Number.isSafeInteger(r?.balance) ? r.balance : null, fraud: r?.fraud === true };
}

/**
 * Closes every closable purse of this user (online). Resolves to the totals the server answered:
 * {closed, returned, held, balance, fraud}. On a failure the error carries `done` (the totals of
 * the purses closed before it).
 */
export async function closePurses(app) {
  const purses = await closablePurses(app.session.handle);
  const done = { closed: 0, returned: 0, held: 0, balance: null, fraud: false };
  for (const purse of purses) {
    try {
      const r = await closeOne(app, purse);
      done.closed += 1;
      done.returned += r.returned;
      done.held += r.held;
      done.fraud ||= r.fraud;
      if (r.balance !== null) done.balance = r.balance;
    } catch (e) {
      e.done = done;
      throw e;
    }
  }
  return done;
}

/**
 * Finishes the closes whose answer never came (purses "closing": they pay nothing more), with the
 * statement and key stored then, as sync does (`offpay wallet sync` too): the server closes a
 * purse once per key. Never throws: a purse that fails stays closing for the next sync.
 * Resolves to {closed, returned}.
 */
export async function finishUnfinishedCloses(app) {
  const unfinished = (await allFor("purses", app.session.handle)).filter((p) => p.status === "closing");
  const done = { closed: 0, returned: 0 };
  for (const purse of unfinished) {
    try {
      const r = await closeOne(app, purse);
      done.closed += 1;
      done.returned += r.returned;
    } catch {
      // Still closing: sent again at the next sync, or by Close.
    }
  }
  return done;
}
