// The offline wallet on this device: loading a purse, paying a request (the note is stored before
// it is shown), making requests, accepting notes (stored before success is shown), and the facts
// the pages show (offline balance, what waits to settle). Protocol rules live in ../protocol/.

import { all, allFor, atomic, get, put } from "./db.js";
import { deviceKey, sign } from "./device.js";
import { offlineApi } from "./client.js";
import { beginIntent, pendingIntents, runIntent } from "../intents.js";
import { cachedMe } from "../session.js";
import { fromText, toText, signObject, hashOf, verifyRequestSignature } from "../protocol/objects.js";
import { acceptNote, checkTally, MAX_NOTES_PER_PURSE, RejectError, REASONS, verifyIssuer } from "../protocol/accept.js";
import { DecodeError } from "../protocol/wire.js";
import { equalBytes, hex, fromHex, keyId as computeKeyId } from "../protocol/crypto.js";
import { findPaid, REUSED_REQUEST } from "./paid-once.js";
import { acceptCard, acceptReceipt, isReceiptText, myCard, refuseRequestIfSentOnline, replayedNonce } from "./shop.js";
import { heldNonce, joinsTally, refusalEntry, refusedBeforeSentence } from "./counter-refusals.js";

export const REQUEST_TTL_S = 15 * 60;
export const nowSeconds = () => BigInt(Math.floor(Date.now() / 1000));

/** A payment problem with a plain-words reason. */
export class OfflineError extends Error {
  constructor(code, reason) { super(reason); this.code = code; this.reason = reason; }
}

/** Sum of what is left in this user's active purses, in minor units. */
export async function offlineBalance(handle) {
  try {
    const now = Number(nowSeconds());
    const purses = await allFor("purses", handle);
    return purses.filter((p) => p.status === "active" && p.validUntil >= now).reduce((sum, p) => sum + (p.amount - p.spent), 0);
  } catch {
    return 0;
  }
}

export async function purses(handle) {
  return (await allFor("purses", handle)).sort((a, b) => a.validFrom - b.validFrom);
}

/** Notes paid and accepted on this device that the server has not settled yet. */
export async function waiting(handle) {
  const [sent, received] = await Promise.all([allFor("sent", handle), allFor("received", handle)]);
  return {
    sent: sent.filter((n) => !n.settled).sort((a, b) => a.createdMs - b.createdMs),
    received: received.filter((n) => !n.settled).sort((a, b) => a.acceptedMs - b.acceptedMs),
    settledSent: sent.filter((n) => n.settled).length,
    settledReceived: received.filter((n) => n.settled).length,
  };
}

/** Refreshes the cached issuer keys and revocations (online). */
export async function refreshKeys() {
  const [r, rev] = await Promise.all([offlineApi.issuerKeys(), offlineApi.revocations()]);
  for (const k of r.keys ?? []) {
    const publicKey = fromHex(k.public_key);
    if (!publicKey || publicKey.length !== 32) continue;
    const keyId = hex(await computeKeyId(publicKey));
    await put("issuers", { keyId, publicKey, notBefore: k.not_before, notAfter: k.not_after });
  }
  await put("issuers", { keyId: "revocations", purses: rev.purses ?? [], devices: rev.devices ?? [] });
}

/**
 * Loads a purse (online): the server reserves `amount` and certifies this device's key. The load
 * is kept as an intent (../intents.js) before it is sent: if the answer is lost, the next load of
 * the same amount on this device reuses the key, and the server answers with the purse it already
 * reserved instead of reserving a second one. A purse this device already stored is never
 * overwritten by a repeated answer (its spent amount and sequence number stay).
 */
export async function loadPurse(app, amount) {
  const handle = app.session.handle;
  const key = await deviceKey(handle);
  const device = hex(key.publicKey);
  await refreshKeys();
  await offlineApi.registerDevice(app.session.token, device);
  // Only the load itself moves money: the intent is written once the device is registered, so a
  // refused registration leaves no unfinished load behind.
  const intent = (await pendingIntents(handle, "load")).find((i) => i.body.amount === amount && i.body.device === device)
    ?? await beginIntent(handle, "load", { amount, device });
  let cert;
  const r = await runIntent(intent, (idempotencyKey) => offlineApi.loadPurse(app.session.token, idempotencyKey, amount, device), async (answer) => {
    cert = fromText("certificate", answer.certificate);
    if (hex(cert.deviceKey) !== device) throw new OfflineError("wrong_device", "The server certified another device's key.");
    const certHash = await hashOf(cert);
    const record = {
      purseId: hex(cert.purseId), handle, certText: answer.certificate, account: cert.account.toString(),
      amount: cert.amount, cap: cert.perPaymentCap, spent: 0, seq: 0, lastHash: certHash,
      validFrom: Number(cert.validFrom), validUntil: Number(cert.validUntil),
      // A load finished late may answer with a purse that has since closed or expired.
      status: ["closed", "expired", "revoked"].includes(answer.state) ? answer.state : "active",
    };
    await atomic(["purses", "meta"], async (s, result) => {
      if (!(await result(s.purses.get(record.purseId)))) s.purses.put(record);
      s.meta.put({ k: `account.${handle}`, v: record.account });
    });
  });
  return { certificate: cert, balance: r.balance };
}

/** The purse load of this user whose answer was lost, if any: {amount, ...}. */
export async function unfinishedLoad(handle) {
  return (await pendingIntents(handle, "load"))[0] ?? null;
}

/** Said when the payer's own account is the request's payee: nothing is signed. */
export const OWN_REQUEST = "This is your own payment request. Ask the person paying you to scan it.";

/**
 * Decodes and checks a payment request the payer pasted or scanned. `me` is the payer's account
 * number (BigInt) when known: a request made out to it is refused before anything is signed.
 * With `handle`, a request this user already paid on this device is returned even once expired,
 * so that its note can be shown again (paidBefore).
 */
export async function readRequest(text, me = null, handle = null) {
  let req;
  try {
    req = fromText("request", text);
  } catch (e) {
    if (e instanceof DecodeError) throw new OfflineError("malformed", "This is not an offpay payment request, or it is damaged.");
    throw e;
  }
  if (!(await verifyRequestSignature(req))) throw new OfflineError("bad_request_signature", REASONS.bad_request_signature);
  if (me !== null && req.payee === me) throw new OfflineError("own_request", OWN_REQUEST);
  if (handle !== null && (await paidBefore(handle, req))) return req;
  if (nowSeconds() > req.expiresAt) throw new OfflineError("request_expired", REASONS.request_expired);
  return req;
}

/** Said when no purse can pay: none loaded, all closed, or all expired. */
export const NO_OPEN_PURSE = "You have no open offline purse. Load one while online.";

/** This user's purses that can pay now: open on this device and inside their window. */
export async function openPurses(handle) {
  const now = Number(nowSeconds());
  return (await allFor("purses", handle)).filter((p) => p.status === "active" && p.validFrom <= now && p.validUntil >= now);
}

/** The purse that can pay `amount` now, or an OfflineError saying why none can. */
export async function choosePurse(handle, amount) {
  const active = await openPurses(handle);
  if (!active.length) throw new OfflineError("no_purse", NO_OPEN_PURSE);
  const fit = active.filter((p) => p.amount - p.spent >= amount && p.cap >= amount);
  const notFull = fit.filter((p) => !isFull(p));
  if (notFull.length) return notFull.sort((a, b) => a.validUntil - b.validUntil)[0];
  if (fit.length) throw new OfflineError("purse_full", PURSE_FULL);
  if (active.every((p) => p.cap < amount)) throw new OfflineError("over_payment_cap", "The amount is over your offline limit per payment.");
  throw new OfflineError("insufficient_offline", "Your offline purse does not hold enough for this payment.");
}

/** Has this purse record made the most payments one purse may make? */
export const isFull = (purse) => purse.seq >= MAX_NOTES_PER_PURSE;

/** Said when the only purses that could pay have made all the payments one purse may make. */
export const PURSE_FULL = `Your offline purse has made its ${MAX_NOTES_PER_PURSE.toLocaleString("en")} payments, the most one purse may make. Close it and load a new one while online.`;

/** The `sent` record and note this user already paid `req` with, or an OfflineError for a reused nonce. */
function earlierOrRefuse(found) {
  if (found && !found.same) throw new OfflineError("request_reused", REUSED_REQUEST);
  return found;
}

/**
 * The payment this device already made for the checked request `req` ({record, note}), or null.
 * A request reusing a paid request's nonce with another payee, amount or currency is refused
 * (OfflineError "request_reused"): an honest payee makes a new nonce for every request.
 */
export async function paidBefore(handle, req) {
  return earlierOrRefuse(findPaid(await allFor("sent", handle), req));
}

/** Refuses (OfflineError "sent_online") the request `req` while an online send of this user to its payee has no answer. */
export async function refuseWhileRequestSentOnline(handle, req) {
  refuseRequestIfSentOnline(req, await pendingIntents(handle, "send"));
}

const shownAgain = ({ record, note }) => ({ note, text: record.text, noteHash: fromHex(record.noteHash), repeated: true });

/**
 * Pays a checked request: signs note n+1 and records n, the hash and the new total durably
 * BEFORE the note is returned, so the device never releases two notes with the same n.
 * A request this device already paid is never paid again: its earlier note is returned
 * (`repeated: true`) and nothing is signed or stored. The look-up is repeated in the storing
 * transaction, so two tabs paying one request at once store one note (the other tab's note,
 * signed but never stored or shown, is dropped and the stored one returned).
 * Refused (OfflineError "sent_online"), nothing signed or stored, while an online send of this
 * user to the request's payee has no answer: it may have paid them already. Looked at again in
 * the storing transaction (another tab may start such a send meanwhile).
 */
export async function pay(handle, req) {
  const earlier = await paidBefore(handle, req);
  if (earlier) return shownAgain(earlier);
  if (nowSeconds() > req.expiresAt) throw new OfflineError("request_expired", REASONS.request_expired);
  await refuseWhileRequestSentOnline(handle, req);
  const purse = await choosePurse(handle, req.amount);
  const payment = { amount: req.amount, payee: req.payee, nonce: req.nonce, currency: req.currency, payeeLabel: req.handle ?? `account ${req.payee}` };
  const stored = await signAndStore(handle, purse, payment, {
    earlier: (sent) => earlierOrRefuse(findPaid(sent, req)),
    stores: ["intents"],
    alsoInTx: async (s, result) => refuseRequestIfSentOnline(req, await result(s.intents.index("handle").getAll(handle))),
  });
  if (stored.earlier) return shownAgain(stored.earlier);
  return { note: stored.note, text: stored.text, noteHash: stored.noteHash, repeated: false };
}

/**
 * The payer's path shared by requests and shop cards: signs note n+1 of `purse` for `payment`
 * ({amount, payee, nonce, currency, payeeLabel, extra?}) and, in one transaction, re-reads the
 * purse (refusing if it changed), writes the new seq/hash/total and the `sent` record, BEFORE
 * returning {note, text, noteHash}. `earlier(sentRecords)` looks inside that transaction for a
 * payment already stored for the same thing: when it finds one, nothing is stored and
 * {earlier} is returned. `alsoInTx(stores, result)` runs in the same transaction over `stores`
 * (added to purses and sent). The note is never released before its state is durable.
 */
export async function signAndStore(handle, purse, payment, { earlier, stores = [], alsoInTx = () => {} }) {
  const cert = fromText("certificate", purse.certText);
  // The purse's account is the payer's: never sign a note to oneself (readRequest says so earlier
  // when the account is known; this holds even when it is not).
  if (cert.account === payment.payee) throw new OfflineError("own_request", OWN_REQUEST);
  if (cert.currency !== payment.currency) throw new OfflineError("wrong_currency", REASONS.wrong_currency);
  if (isFull(purse)) throw new OfflineError("purse_full", PURSE_FULL);
  const key = await deviceKey(handle);
  const fields = {
    certificate: cert, seq: purse.seq + 1, prevHash: purse.lastHash, cumulative: purse.spent + payment.amount,
    amount: payment.amount, payee: payment.payee, nonce: payment.nonce, time: nowSeconds(),
  };
  const note = await signObject("note", fields, (bytes) => sign(key, bytes));
  const noteHash = await hashOf(note);
  const text = toText(note);
  const found = await atomic(["purses", "sent", ...stores], async (s, result) => {
    const again = earlier(await result(s.sent.index("handle").getAll(handle)));
    if (again) return again;
    const current = await result(s.purses.get(purse.purseId));
    if (!current || current.seq !== purse.seq || current.status !== "active") {
      throw new OfflineError("busy", "The purse changed while paying. Try again.");
    }
    s.purses.put({ ...current, seq: fields.seq, lastHash: noteHash, spent: fields.cumulative });
    s.sent.put({
      noteHash: hex(noteHash), handle, purseId: purse.purseId, seq: fields.seq, amount: payment.amount,
      payee: payment.payeeLabel, payeeAccount: payment.payee.toString(), text, createdMs: Date.now(), settled: false,
      nonce: hex(payment.nonce), ...(payment.extra ?? {}),
    });
    await alsoInTx(s, result);
    return null;
  });
  if (found) return { earlier: found };
  return { note, text, noteHash };
}

/** This user's account number, learned from /v1/me or a purse certificate. */
export async function accountOf(app) {
  const handle = app.session.handle;
  const me = app.me ?? cachedMe(handle);
  if (Number.isSafeInteger(me?.account)) {
    await put("meta", { k: `account.${handle}`, v: String(me.account) });
    return BigInt(me.account);
  }
  const m = await get("meta", `account.${handle}`);
  return m ? BigInt(m.v) : null;
}

/** Makes and stores a signed payment request for `amount`. */
export async function createRequest(app, amount) {
  const handle = app.session.handle;
  const account = await accountOf(app);
  if (account === null) throw new OfflineError("no_account", "Go online once so this device learns your account number.");
  const key = await deviceKey(handle);
  const fields = {
    payee: account, payeeDeviceKey: key.publicKey, currency: app.config.currency, amount,
    nonce: crypto.getRandomValues(new Uint8Array(16)), expiresAt: nowSeconds() + BigInt(REQUEST_TTL_S), handle,
  };
  const req = await signObject("request", fields, (bytes) => sign(key, bytes));
  const text = toText(req);
  await put("requests", { nonce: hex(fields.nonce), handle, amount, text, expiresAt: Number(fields.expiresAt), status: "open", createdMs: Date.now() });
  return { request: req, text };
}

/**
 * The issuer keys and revocation list cached by refreshKeys, in the shape the protocol checks
 * take: {issuerKeys: [{keyId, publicKey, notBefore, notAfter}], revocations: {purses, devices}}.
 */
export async function cachedKeys() {
  const issuers = await all("issuers");
  const rev = issuers.find((i) => i.keyId === "revocations");
  return {
    issuerKeys: issuers.filter((i) => i.keyId !== "revocations").map((i) => ({
      keyId: fromHex(i.keyId), publicKey: i.publicKey, notBefore: BigInt(i.notBefore), notAfter: BigInt(i.notAfter),
    })),
    revocations: { purses: new Set(rev?.purses ?? []), devices: new Set(rev?.devices ?? []) },
  };
}

async function acceptContext(app) {
  const handle = app.session.handle;
  const me = await accountOf(app);
  const requests = await allFor("requests", handle);
  return {
    me: me ?? -1n,
    ...(await cachedKeys()),
    openRequests: requests.map((r) => ({ nonce: fromHex(r.nonce), amount: r.amount, expiresAt: BigInt(r.expiresAt), paid: r.status !== "open" })),
    now: nowSeconds(),
  };
}

/**
 * The purse tally (docs/PROTOCOL.md section 9) of `note`'s purse from this user's `received`
 * records of that purse and the notes of that purse this counter refused and kept to give back
 * (`kept`: this user's `refusals` records, of any purse: those of other purses are left out, and
 * those kept with their certificate unchecked, counter-refusals.js refusalEntry, but for the ones
 * in `checkedNow`). A kept note counts as a note received: the payer's phone chains its next note
 * on it, and a note contradicting it (another note with its sequence number, from a forked purse)
 * is refused (`inconsistent_with_earlier_note`) rather than taken while it is given back. At one
 * sequence number the note received stands (two such notes are only stored by a phone that kept
 * and took them before kept notes counted).
 * `checkedNow` (keptNowChecked, read before: its certificate checks are asynchronous, and this
 * runs inside IndexedDB transactions) are the notes of the purse kept for an issuer key this
 * device did not know whose certificate the issuer keys cached now verify: each joins the tally
 * after the others, oldest first, while its record is still among `kept`, unless the tally has
 * that very note, and only if it fits (checkTally: consistent with every entry, within the purse
 * amount; one that does not, itself a branch of a note taken or kept here, is left out), as the
 * terminal does (counter_refusals.rs tally_with_kept).
 */
export function tallyOf(note, records, kept = [], checkedNow = []) {
  const purseId = hex(note.certificate.purseId);
  const notes = new Map();
  for (const r of kept) {
    const e = refusalEntry(r);
    if (e && e.purseId === purseId) notes.set(e.seq, e.entry);
  }
  for (const n of records) notes.set(n.seq, { hash: fromHex(n.noteHash), prevHash: fromHex(n.prevHash), cumulative: n.cumulative, amount: n.amount });
  const stillKept = new Set(kept.filter((r) => !joinsTally(r)).map((r) => r.noteHash));
  for (const c of checkedNow) {
    if (c.purseId !== purseId || !stillKept.has(c.noteHash)) continue;
    const there = notes.get(c.seq);
    if (there && equalBytes(there.hash, c.entry.hash)) continue;
    try {
      checkTally({ purseId: note.certificate.purseId, notes }, c.certificate, c.seq, c.entry);
    } catch (e) {
      if (e instanceof RejectError) continue;
      throw e;
    }
    notes.set(c.seq, c.entry);
  }
  return { purseId: note.certificate.purseId, notes };
}

/**
 * The notes of `note`'s purse among `kept` (this user's `refusals` records) kept for an issuer key
 * this device did not know (counter-refusals.js UNCHECKED_REASON, no tally entry while unchecked)
 * whose certificate `issuerKeys` (the cached ones, cachedKeys) verify now (verifyIssuer): such a
 * note is genuine, so once the counter knows its key it joins its purse's tally (tallyOf), and
 * the payer's fork of it (another note with its sequence number) is refused here like the fork of
 * any note kept, not taken while it is given back. One whose certificate still does not verify
 * stays out: a forged certificate can name any purse. Oldest first: [{noteHash (hex), purseId
 * (hex), seq, certificate, entry: {hash, prevHash, cumulative, amount}}], read from the kept note
 * text (an unreadable one is left out).
 */
export async function keptNowChecked(note, kept, issuerKeys) {
  const purseId = hex(note.certificate.purseId);
  const out = [];
  for (const r of [...kept].sort((x, y) => (x.refusedMs ?? 0) - (y.refusedMs ?? 0))) {
    if (joinsTally(r)) continue;
    let k;
    try {
      k = fromText("note", r.text);
    } catch {
      continue;
    }
    if (hex(k.certificate.purseId) !== purseId) continue;
    try {
      await verifyIssuer(k.certificate, issuerKeys);
    } catch (e) {
      if (e instanceof RejectError) continue;
      throw e;
    }
    const hash = await hashOf(k);
    if (hex(hash) !== r.noteHash) continue;
    out.push({
      noteHash: r.noteHash, purseId, seq: k.seq, certificate: k.certificate,
      entry: { hash, prevHash: k.prevHash, cumulative: k.cumulative, amount: k.amount },
    });
  }
  return out;
}

/** keptNowChecked of this user's kept refusals with the issuer keys cached now. */
export async function keptNowCheckedFor(handle, note) {
  const [kept, { issuerKeys }] = await Promise.all([allFor("refusals", handle), cachedKeys()]);
  return keptNowChecked(note, kept, issuerKeys);
}

/**
 * The tally `note` is checked against here: this user's notes received from its purse and those
 * kept to give back, with those kept for an issuer key this device knows now (tallyOf, keptNowChecked).
 */
export async function purseTally(handle, note) {
  const purseId = hex(note.certificate.purseId);
  const [received, kept, { issuerKeys }] = await Promise.all([allFor("received", handle), allFor("refusals", handle), cachedKeys()]);
  return tallyOf(note, received.filter((n) => n.purseId === purseId), kept, await keptNowChecked(note, kept, issuerKeys));
}

/** The `already_accepted` refusal, with the stored copy (`earlier`) when it is this user's: "Already received". */
export function alreadyAccepted(copy, handle) {
  const e = new OfflineError("already_accepted", REASONS.already_accepted);
  if (copy?.handle === handle) e.earlier = copy;
  return e;
}

/** The `refused_here_before` refusal of a note this phone refused at its counter (`record`, store `refusals`). */
export function refusedHere(record) {
  return new OfflineError("refused_here_before", refusedBeforeSentence(record));
}

/**
 * Stores a note that passed the payee's checks (`ok`, from acceptNote or acceptCardNote) in one
 * read-write transaction that first checks again, against what is stored now, what another
 * acceptance running at the same time (a second tab, a second scan in Shop mode) may have
 * changed since: the same note stored (`already_accepted`), the note refused at this counter
 * and being given back to its payer (`refused_here_before`, counter-refusals.js; so a refusal
 * written meanwhile by another scan cannot be followed by an acceptance), another note with its
 * nonce refused and kept so (`nonce_replayed`: taking this one while giving that one back could
 * leave the shop with neither, shop.js seenNonces; said as shop.js replayedNonce says it: "already
 * received" only when a note accepted or a request has the nonce too, else that nothing was paid
 * for either, and shop.js acceptCard then keeps a card note so refused; the nonce of a note kept
 * with its certificate unchecked does not count: counter-refusals.js heldNonce), `answers(stores, result)` (the
 * request still open, or the card nonce not seen; it may write, as the transaction aborts on any
 * refusal), and the purse tally (rows 16 and 17: `over_purse_amount`,
 * `inconsistent_with_earlier_note`), which counts the notes of the purse kept to give back
 * (tallyOf: so a note of a forked purse kept meanwhile by another scan stops its twin), those
 * kept for an issuer key this device knows now too (keptNowChecked, read before the transaction).
 * IndexedDB runs read-write transactions over the same stores one after the other, in every tab,
 * so of two conflicting notes only the first is stored and the other gets the refusal it would
 * get after it. `fields` are added to the `received` record.
 */
export async function storeAccepted(handle, note, ok, text, answers, fields = {}) {
  const noteHash = hex(ok.noteHash);
  const purseId = hex(note.certificate.purseId);
  const entry = { hash: ok.noteHash, prevHash: note.prevHash, cumulative: note.cumulative, amount: note.amount };
  const checkedNow = await keptNowCheckedFor(handle, note);
  await atomic(["requests", "received", "refusals"], async (s, result) => {
    const copy = await result(s.received.get(noteHash));
    if (copy) throw alreadyAccepted(copy, handle);
    const refused = await result(s.refusals.get(noteHash));
    if (refused) throw refusedHere(refused);
    const nonce = hex(ok.nonce);
    const kept = await result(s.refusals.index("handle").getAll(handle));
    if (kept.some((r) => heldNonce(r) === nonce)) {
      const [received, request] = await Promise.all([result(s.received.index("handle").getAll(handle)), result(s.requests.get(nonce))]);
      throw replayedNonce(nonce, { received, request, refusals: kept });
    }
    await answers(s, result);
    const earlier = (await result(s.received.index("handle").getAll(handle))).filter((n) => n.purseId === purseId);
    try {
      checkTally(tallyOf(note, earlier, kept, checkedNow), note.certificate, ok.seq, entry);
    } catch (e) {
      if (e instanceof RejectError) throw new OfflineError(e.code, e.message);
      throw e;
    }
    s.received.put({
      noteHash, handle, purseId, payer: ok.payer.toString(), seq: ok.seq, prevHash: hex(note.prevHash),
      cumulative: note.cumulative, amount: ok.amount, text: text.trim(), acceptedMs: Date.now(), settled: false, ...fields,
    });
  });
}

/**
 * Checks a pasted or scanned note offline and, when it passes, stores it (and marks its request
 * paid) in one transaction BEFORE returning; that transaction checks the request and the purse
 * tally again (storeAccepted). Throws OfflineError with the failed check's reason.
 */
export async function acceptText(app, text) {
  const handle = app.session.handle;
  // A customer's server receipt of an online payment (docs/PROTOCOL.md 4.6): already settled.
  if (isReceiptText(text)) return acceptReceipt(app, text);
  let note;
  try {
    note = fromText("note", text);
  } catch (e) {
    if (e instanceof DecodeError) throw new OfflineError("malformed", `${REASONS.malformed} (${e.code.replaceAll("_", " ")})`);
    throw e;
  }
  const tally = await purseTally(handle, note);
  // The same note again (scanned twice, or re-sent by the payer) is not a new payment: say when it
  // was accepted, and how much, instead of refusing it.
  const noteHash = hex(await hashOf(note));
  const earlierCopy = await get("received", noteHash);
  if (earlierCopy && earlierCopy.handle === handle) throw alreadyAccepted(earlierCopy, handle);
  // A code this counter refused before (counter-refusals.js: for a clock, my retired card, an
  // unknown issuer key or a revoked purse or phone) is being given back to the payer: never taken
  // now, even with the clocks right, the key learnt or the revocation list changed (looked at
  // again in the storing transaction).
  const refusedBefore = await get("refusals", noteHash);
  if (refusedBefore) throw refusedHere(refusedBefore);
  // A note answering none of my requests, with a shop card on this device, is a card note
  // (docs/PROTOCOL.md 16.3): checked against my card (a note for another card: `wrong_card`).
  const ctx = await acceptContext(app);
  if (!ctx.openRequests.some((r) => hex(r.nonce) === hex(note.nonce)) && (await myCard(handle))) {
    return acceptCard(app, note, text, tally);
  }
  let ok;
  try {
    ok = await acceptNote(note, tally, ctx);
  } catch (e) {
    if (e instanceof RejectError) throw new OfflineError(e.code, e.message);
    throw e;
  }
  const nonce = hex(ok.nonce);
  await storeAccepted(handle, note, ok, text, async (s, result) => {
    const r = await result(s.requests.get(nonce));
    if (!r || r.status !== "open") throw new OfflineError("request_already_paid", REASONS.request_already_paid);
    s.requests.put({ ...r, status: "paid" });
  }, { nonce });
  // validUntil: the payer's purse ends then; online before it, the note is before its settlement deadline.
  return { amount: ok.amount, payer: ok.payer, noteHash: ok.noteHash, validUntil: Number(note.certificate.validUntil) };
}
