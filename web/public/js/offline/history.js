// This device's side of the history: its offline notes (paid and accepted) as entries, the
// server's items merged with them (entries.js), pairings kept on the note records, the open
// payment requests Receive shows again after a reload, and one entry looked up for a receipt.

import { allFor, atomic, get } from "./db.js";
import { api } from "../api.js";
import { fromReceived, fromSent, fromServer, mergeHistory } from "./entries.js";
import { nowSeconds } from "./wallet.js";

/** Every offline note this user paid or accepted on this device, as entries (entries.js). */
export async function localNotes(handle) {
  const [sent, received] = await Promise.all([allFor("sent", handle), allFor("received", handle)]);
  return [...sent.map(fromSent), ...received.map(fromReceived)];
}

/** Keeps new pairings of a note with the server entry that paid it (`entryId` on the record). */
export async function keepPairings(paired) {
  if (!paired.length) return;
  try {
    await atomic(["sent", "received"], async (s, result) => {
      for (const p of paired) {
        const store = p.role === "payer" ? s.sent : s.received;
        const r = await result(store.get(p.noteHash));
        if (r && r.entryId == null) store.put({ ...r, entryId: p.entryId });
      }
    });
  } catch { /* found again next time */ }
}

/**
 * The merged history after loading one more page of server items (when online). `items` are the
 * server items loaded so far (not changed), `before` the cursor of the next page (null: the
 * first). Resolves to {entries, items, next, error}: `items` all server items loaded, `next` the
 * cursor for more (null at the end), `error` the ApiError when the server could not be asked
 * (the entries then hold what was loaded and this device's notes).
 */
export async function loadMerged(app, items = [], { before = null, limit = 50, online = navigator.onLine && Boolean(app.session.token) } = {}) {
  const session = app.session;
  const notes = await localNotes(app.session.handle).catch(() => []);
  const all = [...items];
  let next = null;
  let error = null;
  if (online) {
    try {
      const page = await api.history(app.session.token, { limit, before: before ?? undefined });
      all.push(...page.items);
      next = page.next_before ?? null;
    } catch (e) {
      error = e;
    }
  }
  const { entries, paired } = mergeHistory(all, notes, { complete: next === null });
  keepPairings(paired);
  // Kept for receipts (findEntry) only while the same person is logged in (main.js forgets them
  // at login and logout; a list that was loading then is not kept for the next person).
  if (app.session === session) {
    app.entries ??= new Map();
    for (const e of entries) app.entries.set(e.key, e);
  }
  return { entries, items: all, next, error };
}

/**
 * This user's payment requests that can still be paid: not paid on this device and not expired,
 * newest first.
 */
export async function openRequests(handle) {
  const now = Number(nowSeconds());
  return (await allFor("requests", handle))
    .filter((r) => r.status === "open" && r.expiresAt > now)
    .sort((a, b) => (b.createdMs ?? 0) - (a.createdMs ?? 0));
}

/** One of this user's requests by its nonce (hex), or null. */
export async function requestOf(handle, nonce) {
  const r = await get("requests", nonce).catch(() => null);
  return r && r.handle === handle ? r : null;
}

/**
 * The entry behind a receipt key (`note:<hash>` or `entry:<id>`), or null: a note from this
 * device, read afresh (merged with the server entry that paid it when known), or a server entry
 * (from the list just shown, else asked from the server), shown as the note it paid when this
 * device has that note.
 */
export async function findEntry(app, key) {
  const notes = await localNotes(app.session.handle).catch(() => []);
  const cached = app.entries?.get(key) ?? null;
  if (key.startsWith("note:")) {
    const note = notes.find((n) => n.key === key) ?? null;
    if (note && cached?.settledEntry) return mergeHistory([cached.settledEntry.item], [note]).entries.find((e) => e.key === key);
    return note;
  }
  let item = cached?.item ?? null;
  const id = Number(key.slice("entry:".length));
  if (!item) {
    if (!Number.isSafeInteger(id) || !navigator.onLine || !app.session.token) return null;
    const page = await api.history(app.session.token, { before: id + 1, limit: 1 });
    item = page.items.find((i) => i.entry_id === id);
    if (!item) return null;
  }
  const { entries } = mergeHistory([item], notes, { complete: false });
  return entries.find((e) => e.entryId === id) ?? fromServer(item);
}
