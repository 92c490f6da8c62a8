// One history, online and offline (pure: no storage, no DOM): turns the server's history items
// and this device's offline notes (IndexedDB `sent` and `received` records) into one kind of
// entry, merges them so a settled offline note and the server's `offline_settle` entry that paid
// it are listed once, says each note's state in words, and writes the plain-text receipt that
// the receipt screen shows as a QR code or shares.
//
// How the merge pairs a note with the server's entry: an `offline_settle` history item names the
// note it pays (`note`, docs/API.md), so the pairing is exact. Items from a server that does not
// send `note` yet are paired the old way: with the note of the same direction and amount (and
// counterparty, when the device knows it) closest in time. A pairing found once is kept on the
// note record (`entryId`), so it never changes afterwards.

import { serverRefusal, judgedAgain, SENT_AGAIN } from "./refusals.js";

/** Key of an entry, as used in `#/receipt?id=...`. */
export const noteKey = (noteHash) => `note:${noteHash}`;
export const entryKey = (entryId) => `entry:${entryId}`;

/**
 * The state of an offline note in words: {code, label, detail}. `role` is "payer" (this device
 * signed it) or "payee" (this device accepted it). Codes: waiting, uploaded, settled, refused, held.
 */
export function noteState(record, role) {
  if (record.settled) {
    return { code: "settled", label: "Settled", detail: role === "payer"
      ? "The server paid this note from your offline purse."
      : "The server paid this note into your balance." };
  }
  if (record.rejected) {
    const r = serverRefusal(record.rejected);
    if (judgedAgain(r.code)) {
      // Not final: the note is sent again and may be paid later (still no entry, so "refused").
      return { code: "refused", label: `Not paid yet: ${r.sentence}`, detail: SENT_AGAIN, reason: r.code };
    }
    return { code: "refused", label: `Refused by the server: ${r.sentence}`, detail: "No money moved for this note.", reason: r.code };
  }
  if (record.held) {
    const r = serverRefusal(record.held);
    return { code: "held", label: `Held by the server: ${r.sentence}`, detail: "It is uploaded again at each sync until it is paid in full.", reason: r.code };
  }
  if (record.uploadedMs) {
    return { code: "uploaded", label: "Uploaded, waiting for the server's answer",
      detail: "The next sync asks the server again. It is never paid twice." };
  }
  return role === "payer"
    ? { code: "waiting", label: "Waiting to upload", detail: "It settles when your phone or the payee's phone is online." }
    : { code: "waiting", label: "Accepted here, waiting to upload", detail: "It settles when your phone or the payer's phone is online." };
}

/** A `sent` record (a note this device paid) as an entry. */
export function fromSent(r) {
  return {
    key: noteKey(r.noteHash), source: "offline", role: "payer", dir: "out", kind: "offline_note",
    amount: r.amount, counterparty: r.payee, timeMs: r.createdMs, noteHash: r.noteHash, purseId: r.purseId,
    seq: r.seq, entryId: r.entryId ?? null, text: r.text, state: noteState(r, "payer"), record: r,
  };
}

/** A `received` record (a note this device accepted) as an entry. */
export function fromReceived(r) {
  return {
    key: noteKey(r.noteHash), source: "offline", role: "payee", dir: "in", kind: "offline_note",
    amount: r.amount, counterparty: r.payerHandle ?? `account ${r.payer}`, timeMs: r.acceptedMs, noteHash: r.noteHash,
    purseId: r.purseId, seq: r.seq, entryId: r.entryId ?? null, text: r.text, state: noteState(r, "payee"), record: r,
  };
}

/** A server history item (docs/API.md `HistoryItem`) as an entry. */
export function fromServer(item) {
  return {
    key: entryKey(item.entry_id), source: "server", dir: item.delta >= 0 ? "in" : "out", kind: item.kind,
    amount: Math.abs(item.delta), delta: item.delta, counterparty: item.counterparty ?? null, timeMs: item.created_at_ms,
    memo: item.memo ?? null, entryId: item.entry_id, item,
  };
}

/** What an entry is, in a few words ("Offline payment from alice"). */
export function describe(e) {
  const who = e.counterparty ?? "someone";
  switch (e.kind) {
    case "deposit": return "Deposit";
    case "purse_load": return "Loaded offline purse";
    case "purse_return": return "Offline purse returned";
    case "offline_settle":
    case "offline_note": return e.dir === "in" ? `Offline payment from ${who}` : `Offline payment to ${who}`;
    default: return e.dir === "in" ? `From ${who}` : `To ${who}`;
  }
}

/**
 * Merges server items with local notes, newest first. Each server `offline_settle` item that paid
 * one of the notes is folded into that note's entry (which then carries `entryId` and shows
 * "Settled"). `complete` is true when every server item is loaded; otherwise local notes older
 * than the oldest loaded item wait for "Show more" (they would belong further down). Returns
 * {entries, paired: [{noteHash, entryId, role}]} — the pairings newly found, for the caller to keep.
 */
export function mergeHistory(items, notes, { complete = true } = {}) {
  const server = items.map(fromServer);
  const byEntry = new Map(server.map((e) => [e.entryId, e]));
  const used = new Set();
  const merged = new Map(); // entryId -> note entry
  const paired = [];
  const fold = (note, srv) => {
    used.add(note.key);
    merged.set(srv.entryId, note);
    note.entryId = srv.entryId;
    note.settledEntry = srv;
    if (note.role === "payee" && srv.counterparty && !note.record?.payerHandle) note.counterparty = srv.counterparty;
    if (!note.state || note.state.code !== "settled") note.state = noteState({ settled: true }, note.role);
  };
  const namesNote = (srv) => typeof srv.item.note === "string";
  // 1. Pairings kept from before (unless the item names another note).
  for (const note of notes) {
    const srv = note.entryId != null ? byEntry.get(note.entryId) : null;
    if (srv && srv.kind === "offline_settle" && !merged.has(srv.entryId)
      && (!namesNote(srv) || srv.item.note === note.noteHash)) fold(note, srv);
  }
  // 2. Items that name their note: the note's first (oldest) entry folds into it; a later entry
  //    for the same note (money held for it, paid later from the payer) stays its own line.
  const byHash = new Map(notes.map((n) => [n.noteHash, n]));
  for (const srv of [...server].sort((a, b) => a.entryId - b.entryId)) {
    if (srv.kind !== "offline_settle" || !namesNote(srv) || merged.has(srv.entryId)) continue;
    const note = byHash.get(srv.item.note);
    if (!note || used.has(note.key) || note.role !== (srv.dir === "in" ? "payee" : "payer")) continue;
    fold(note, srv);
    if (note.record?.settled) paired.push({ noteHash: note.noteHash, entryId: srv.entryId, role: note.role });
  }
  // 3. Items without `note`, oldest first: same direction and amount, same counterparty when
  //    known, not refused; settled notes before unsettled ones, then the closest in time.
  const open = server.filter((s) => s.kind === "offline_settle" && !namesNote(s) && !merged.has(s.entryId))
    .sort((a, b) => a.timeMs - b.timeMs);
  for (const srv of open) {
    const role = srv.dir === "in" ? "payee" : "payer";
    const candidates = notes.filter((n) => !used.has(n.key) && n.role === role && n.amount === srv.amount
      && n.entryId == null && n.state?.code !== "refused"
      && (!srv.counterparty || !knownHandle(n) || n.counterparty === srv.counterparty));
    if (!candidates.length) continue;
    const distance = (n) => Math.abs((n.record?.settledMs ?? n.timeMs) - srv.timeMs);
    candidates.sort((a, b) => (Number(b.state?.code === "settled") - Number(a.state?.code === "settled")) || distance(a) - distance(b));
    const note = candidates[0];
    fold(note, srv);
    if (note.record?.settled) paired.push({ noteHash: note.noteHash, entryId: srv.entryId, role });
  }
  const oldest = server.length ? Math.min(...server.map((s) => s.timeMs)) : -Infinity;
  const shownNotes = notes.filter((n) => used.has(n.key) || complete || n.timeMs >= oldest);
  const entries = [...server.filter((s) => !merged.has(s.entryId)), ...shownNotes]
    .sort((a, b) => b.timeMs - a.timeMs);
  return { entries, paired };
}

/** True when a note entry knows its counterparty's username (not just "account N"). */
function knownHandle(n) {
  return typeof n.counterparty === "string" && !n.counterparty.startsWith("account ");
}

/**
 * The parties of an entry, {from, to}, for `me` (this user's handle). The other side is a
 * username, "account N" for an offline payer this device knows only by account, or the operator.
 */
export function parties(e, me) {
  const other = e.counterparty ?? "someone";
  if (e.kind === "deposit") return { from: "offpay (deposit)", to: me };
  if (e.kind === "purse_load") return { from: `${me} (balance)`, to: `${me} (offline purse)` };
  if (e.kind === "purse_return") return { from: `${me} (offline purse)`, to: `${me} (balance)` };
  return e.dir === "in" ? { from: other, to: me } : { from: me, to: other };
}

/** The status of an entry in words: a note's state, or "Completed" for a server entry. */
export function statusOf(e) {
  return e.source === "offline" ? e.state.label : "Completed";
}

/**
 * The receipt as plain text (ASCII only, so that the QR code holds it byte for byte): the title,
 * amount with its currency code, parties, time in UTC, status and the ids. `amountText(minor)`
 * gives "120.00".
 */
export function receiptText(e, me, currency, amountText) {
  const { from, to } = parties(e, me);
  const lines = [
    "offpay receipt",
    describe(e),
    `Amount: ${amountText(e.amount)} ${currency}`,
    `From: ${from}`,
    `To: ${to}`,
    `Time: ${new Date(e.timeMs).toISOString().replace("T", " ").slice(0, 16)} UTC`,
    `Status: ${e.source === "offline" ? e.state.code === "refused" || e.state.code === "held" ? `${e.state.code} (${e.state.reason})` : e.state.label : "Completed"}`,
  ];
  if (e.noteHash) lines.push(`Note id: ${e.noteHash}`);
  if (e.entryId != null) lines.push(`Entry id: ${e.entryId}`);
  if (e.purseId) lines.push(`Purse: ${e.purseId}`);
  return lines.join("\n");
}
