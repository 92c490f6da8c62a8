// IndexedDB storage of everything the device must keep offline: the device key, offline purses,
// notes it paid (pending until settled), payment requests it issued, notes it accepted, and the
// issuer keys it cached. Writes resolve only after the transaction has committed, and every
// read-write transaction asks for strict durability (written to disk before it completes), so
// what the app shows as stored survives a power cut.

const DB_NAME = "offpay";
const DB_VERSION = 3; // 2: intents; 3: refusals

/** Object stores and their key paths. Every record carries `handle` (the local user). */
export const STORES = {
  keys: "handle",        // {handle, alg, privateKey (CryptoKey, non-extractable) | seed, publicKey: Uint8Array}
  purses: "purseId",     // {purseId, handle, certText, amount, cap, spent, seq, lastHash, validFrom, validUntil, status,
                         //  closeText, closeKey, returned, held}; status: active | closing | closed | expired | revoked
  sent: "noteHash",      // {noteHash, handle, purseId, seq, amount, payee, payeeAccount?, text, createdMs, settled, nonce,
                         //  settledMs?, uploadedMs?, rejected?, held?, entryId?, shop? (a card note: the shop's name)}
                         //  payee: who was paid, in words (handle, shop name or "account 12"); payeeAccount: the
                         //  account the note pays, decimal (records from before it: read from text)
                         //  nonce: the request's, hex (records from before it: read from text, paid-once.js)
                         //  uploadedMs: an upload left (sync.js); entryId: the server entry that paid it (history.js)
  requests: "nonce",     // {nonce, handle, amount, text, expiresAt (Unix seconds), status: open | paid, createdMs}
  received: "noteHash",  // {noteHash, handle, purseId, payer, seq, cumulative, amount, text, acceptedMs, settled,
                         //  settledMs?, uploadedMs?, rejected?, held?, payerHandle? (from an offline_in event), entryId?,
                         //  nonce? (hex; the seen nonces of card acceptance, shop.js), card? (a note paying my shop card)}
  issuers: "keyId",      // {keyId, publicKey: Uint8Array, validFromMs, validUntilMs}
  meta: "k",             // {k, v}: account.<handle> (wallet.js), pin.<handle> and unlock (pin.js),
                         //  card.<handle> (my shop card), cards.retired.<handle> ({texts: [card text, ...]}: the cards of mine
                         //  a new card replaced, oldest first; notes for them are kept to give back) and cardpay.<handle>
                         //  (a card payment tapped, not yet stored) (shop.js)
  intents: "key",        // {key (the Idempotency-Key), handle, kind: send | load, body, createdMs} (../intents.js)
  refusals: "noteHash",  // {noteHash, handle, text, amount, payer, purseId, nonce?, reason, refusedMs, state: pending | done | failed,
                         //  sentMs?, answeredMs?, done? {status, amount, payer, note}, failure? {code, message}}: card notes
                         //  refused at this counter for a clock (stale_note, certificate_expired, certificate_not_yet_valid),
                         //  for my retired card (wrong_card), an unknown issuer key (unknown_issuer_key: no tally entry) or a
                         //  revoked purse or phone (revoked) and
                         //  given back to the payer (counter-refusals.js, shop.js, sync.js); nonce (hex; records from before it:
                         //  read from text) counts as seen (shop.js seenNonces)
};

/** Dispatched on `globalThis` when a newer version of the app (another tab) closed this tab's connection. */
export const DB_CLOSED = "offpay-db-closed";
/** Dispatched on `globalThis` when this tab's upgrade waits for another tab to close its connection. */
export const DB_BLOCKED = "offpay-db-blocked";

let dbPromise = null;

/**
 * The open database. Never hangs another tab: a newer version opened elsewhere closes this
 * connection at once (the next use opens it again, which fails until this page is reloaded), and
 * an upgrade here that waits for an older tab says so; the app tells the person (main.js).
 */
export function openDb() {
  if (dbPromise) return dbPromise;
  dbPromise = new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, DB_VERSION);
    req.onblocked = () => globalThis.dispatchEvent?.(new Event(DB_BLOCKED));
    req.onupgradeneeded = () => {
      const db = req.result;
      for (const [name, keyPath] of Object.entries(STORES)) {
        if (db.objectStoreNames.contains(name)) continue;
        const store = db.createObjectStore(name, { keyPath });
        if (name !== "issuers" && name !== "meta") store.createIndex("handle", "handle");
      }
    };
    req.onsuccess = () => {
      const db = req.result;
      db.onversionchange = () => {
        db.close();
        dbPromise = null;
        globalThis.dispatchEvent?.(new Event(DB_CLOSED));
      };
      resolve(db);
    };
    req.onerror = () => { dbPromise = null; reject(req.error); };
  });
  return dbPromise;
}

/**
 * A read-write transaction over `names` whose completion means the data is on disk: Chromium's
 * default durability is "relaxed" (complete once handed to the OS, which may lose it in a power
 * cut), and a note shown as paid or received must never be lost after it was shown.
 */
function writeTx(db, names) {
  return db.transaction(names, "readwrite", { durability: "strict" });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new Error("transaction aborted"));
    tx.onerror = () => reject(tx.error);
  });
}

function result(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

export async function get(store, key) {
  const db = await openDb();
  return result(db.transaction(store).objectStore(store).get(key));
}

/** All records of one user in a store. */
export async function allFor(store, handle) {
  const db = await openDb();
  return result(db.transaction(store).objectStore(store).index("handle").getAll(handle));
}

export async function all(store) {
  const db = await openDb();
  return result(db.transaction(store).objectStore(store).getAll());
}

export async function put(store, value) {
  const db = await openDb();
  const tx = writeTx(db, store);
  tx.objectStore(store).put(value);
  await done(tx);
}

export async function remove(store, key) {
  const db = await openDb();
  const tx = writeTx(db, store);
  tx.objectStore(store).delete(key);
  await done(tx);
}

/**
 * Runs `fn(stores)` in one read-write transaction over `names` and resolves after it committed.
 * `fn` must only use IndexedDB requests (no other awaits), as IndexedDB requires; it may throw to
 * abort. Its return value (possibly a promise of IDB reads) is passed through.
 */
export async function atomic(names, fn) {
  const db = await openDb();
  const tx = writeTx(db, names);
  const stores = Object.fromEntries(names.map((n) => [n, tx.objectStore(n)]));
  const committed = done(tx);
  let out;
  try {
    out = await fn(stores, result);
  } catch (e) {
    try { tx.abort(); } catch { /* already finished */ }
    await committed.catch(() => {});
    throw e;
  }
  await committed;
  return out;
}
