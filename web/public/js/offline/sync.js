// Settlement: gives back to their payers the card notes this counter refused (counter-refusals.js),
// then uploads every unsettled note this device paid or accepted (except those the server refused
// for good), marks those the server settled (or already had), finishes closes whose answer never
// came (close.js), and runs by itself when the connection returns. Each record is read again in
// the transaction that writes it, so what was written meanwhile (the payer's username from a live
// event, the entry that paid it) stays.

import { allFor, atomic } from "./db.js";
import { offlineApi } from "./client.js";
import { refreshKeys } from "./wallet.js";
import { awaitsUpload } from "./refusals.js";
import { afterAnswer, awaitsSending, isNeverPaid, judgeRefusalAnswer } from "./counter-refusals.js";
import { finishUnfinishedCloses } from "./close.js";

const BATCH = 100;
let running = null;

/**
 * Gives back the notes refused at this shop's counter (sendRefusals), then uploads waiting notes;
 * resolves to {settled, rejected: [{noteHash, reason}], held, remaining, refusals: {done, refunded,
 * waiting, failed, neverPaid}, closes}. `fraud` means paid (the note is part of a fork the server proved; its payee
 * acted in good faith); `held` means stored but not paid in full yet (the payer double-spent
 * beyond what the operator covers): the note stays waiting and is uploaded again at the next
 * sync. The refusals go first: were a note with a refused note's nonce uploaded before the
 * refusal, the server would refuse it for good (`request_already_paid`) while the refused note
 * still counted as paid; after the refusal, a refunded note no longer counts. The upload runs
 * even when sending the refusals failed, and the closes are finished after both; the first error
 * (the refusals', else the upload's) is thrown at the end.
 */
export function syncNow(app) {
  if (running) return running;
  running = (async () => {
    const handle = app.session.handle;
    await refreshKeys().catch(() => {});
    let refusals = null;
    let uploaded = null;
    let error = null;
    try {
      refusals = await sendRefusals(app, handle);
    } catch (e) {
      error = e;
    }
    try {
      uploaded = await uploadWaiting(app, handle);
    } catch (e) {
      error ??= e;
    }
    // A close whose answer never came is finished too (close.js).
    const closes = await finishUnfinishedCloses(app);
    if (refusals?.refunded || uploaded?.settled || closes.closed) await app.refreshMe();
    if (error) throw error;
    return { ...uploaded, refusals, closes };
  })().finally(() => { running = null; });
  return running;
}

/** The upload of syncNow: every note of `handle` that awaits an upload, in batches. */
async function uploadWaiting(app, handle) {
  const sent = (await allFor("sent", handle)).filter(awaitsUpload);
  const received = (await allFor("received", handle)).filter(awaitsUpload);
  const queue = [...sent.map((n) => ["sent", n]), ...received.map((n) => ["received", n])];
  let settled = 0;
  const rejected = [];
  let held = 0;
  for (let i = 0; i < queue.length; i += BATCH) {
    const batch = queue.slice(i, i + BATCH);
    // Kept before the upload leaves: if its answer is lost, history says the note was sent to
    // the server and the next sync asks again (uploads are idempotent by note hash).
    const uploadedMs = Date.now();
    await atomic(["sent", "received"], async (s, result) => {
      for (const [store, n] of batch) {
        const now = await result(s[store].get(n.noteHash));
        if (now) s[store].put({ ...now, uploadedMs });
      }
    });
    const r = await offlineApi.uploadNotes(app.session.token, batch.map(([, n]) => n.text));
    const byHash = new Map((r.results ?? []).map((x) => [x.note, x]));
    await atomic(["sent", "received"], async (s, result) => {
      for (const [store, n] of batch) {
        const res = byHash.get(n.noteHash);
        const now = res ? await result(s[store].get(n.noteHash)) : null;
        if (!now) continue;
        if (res.status === "settled" || res.status === "duplicate" || res.status === "fraud") {
          s[store].put({ ...now, settled: true, settledMs: now.settledMs ?? Date.now(), held: undefined });
          settled += 1;
        } else if (res.status === "held") {
          s[store].put({ ...now, held: res.reason ?? "loss_allowance_exhausted" });
          held += 1;
        } else if (res.status === "rejected") {
          s[store].put({ ...now, rejected: res.reason ?? "rejected" });
          rejected.push({ noteHash: n.noteHash, reason: res.reason });
        }
      }
    });
  }
  return { settled, rejected, held, remaining: queue.length - settled };
}

/**
 * Sends every card note refused at this counter and not yet given back (store `refusals`, state
 * pending, oldest first) with `POST /v1/notes/refusals`, one request each, and writes what the
 * answer means (judgeRefusalAnswer) in a transaction that reads the record again: done (the server
 * voided or refunded it) and failed (a final refusal, with the server's message) are never sent
 * again; anything else stays pending for the next sync. With no connection at all the rest wait
 * for the next sync. Resolves to {done, refunded, waiting, failed, neverPaid} (counts): `failed`
 * the final refusals of a note that may have been paid to this shop, `neverPaid` those of a note
 * the server found no valid payment (isNeverPaid: never paid, nothing to give back).
 */
export async function sendRefusals(app, handle) {
  const pending = (await allFor("refusals", handle)).filter(awaitsSending).sort((a, b) => a.refusedMs - b.refusedMs);
  const counts = { done: 0, refunded: 0, waiting: 0, failed: 0, neverPaid: 0 };
  for (let i = 0; i < pending.length; i++) {
    const record = pending[i];
    let outcome;
    try {
      outcome = { answer: await offlineApi.refuseNote(app.session.token, record.text) };
    } catch (error) {
      outcome = { error };
    }
    const verdict = judgeRefusalAnswer(outcome, record.noteHash);
    await atomic(["refusals"], async (s, result) => {
      const now = await result(s.refusals.get(record.noteHash));
      if (now) s.refusals.put(afterAnswer(now, verdict));
    });
    if (verdict.kind === "done") {
      counts.done += 1;
      if (verdict.status === "refunded") counts.refunded += 1;
    } else if (verdict.kind === "final") {
      if (isNeverPaid(verdict.code)) counts.neverPaid += 1;
      else counts.failed += 1;
    } else {
      counts.waiting += 1;
      if (verdict.code === "network") {
        counts.waiting += pending.length - i - 1;
        break;
      }
    }
  }
  return counts;
}

/** Syncs in the background when online and something is waiting; never throws. */
export async function autoSync(app) {
  // An offline-only session (opened with the PIN) has no token: it syncs once logged in online.
  if (!app.session?.token || !navigator.onLine || !app.config.offline) return;
  try {
    const handle = app.session.handle;
    const [sent, received, refusals, purses] = await Promise.all([
      allFor("sent", handle), allFor("received", handle), allFor("refusals", handle), allFor("purses", handle),
    ]);
    const closing = purses.some((p) => p.status === "closing");
    if (![...sent, ...received].some(awaitsUpload) && !refusals.some(awaitsSending) && !closing) return;
    const r = await syncNow(app);
    if ((r.settled || r.refusals.done || r.refusals.failed || r.refusals.neverPaid) && app.onSynced) app.onSynced(r);
  } catch (e) {
    app.handleError?.(e);
  }
}

/**
 * Marks a note settled when the server says so over the WebSocket (offline_in / offline_out).
 * `counterparty` is the other side's username from the event (`from` or `to`): an accepted note
 * knows its payer only by account number until then, so it is kept as `payerHandle`.
 */
export async function markSettled(app, noteHash, counterparty = null) {
  if (!app.session || typeof noteHash !== "string") return;
  try {
    await atomic(["sent", "received"], async (s, result) => {
      for (const store of ["sent", "received"]) {
        const n = await result(s[store].get(noteHash));
        if (!n) continue;
        const next = n.settled ? { ...n } : { ...n, settled: true, settledMs: Date.now(), held: undefined };
        if (store === "received" && typeof counterparty === "string" && !n.payerHandle) next.payerHandle = counterparty;
        s[store].put(next);
      }
    });
  } catch { /* the next sync marks it */ }
}
