// offline/db.js without a browser: every read-write transaction it opens asks for strict
// durability, so "stored before shown" survives a power cut (Chromium's default is relaxed: a
// committed transaction may still be only in the OS cache). A stub `indexedDB` records the
// arguments of every `transaction()` call and completes each transaction at once.
import { test } from "node:test";
import assert from "node:assert/strict";

const opened = [];

/** A request that succeeds with `value` on the next turn, as IndexedDB's do. */
function request(value) {
  const req = { result: value };
  setTimeout(() => req.onsuccess?.());
  return req;
}

function fakeStore() {
  const rows = new Map();
  return {
    get: (k) => request(rows.get(k)),
    getAll: () => request([...rows.values()]),
    put: (v) => { rows.set(v.k ?? v.key, v); return request(undefined); },
    delete: (k) => { rows.delete(k); return request(undefined); },
    index: () => ({ getAll: () => request([...rows.values()]) }),
  };
}

const stores = new Map();
const fakeDb = {
  objectStoreNames: { contains: () => true },
  transaction(names, mode, options) {
    opened.push({ names, mode: mode ?? "readonly", options });
    const tx = {
      objectStore: (n) => { if (!stores.has(n)) stores.set(n, fakeStore()); return stores.get(n); },
      abort() { setTimeout(() => tx.onabort?.()); },
    };
    setTimeout(() => setTimeout(() => tx.oncomplete?.()));
    return tx;
  },
};
globalThis.indexedDB = { open: () => request(fakeDb) };

const db = await import("../public/js/offline/db.js");

test("every read-write transaction of db.js asks for strict durability", async () => {
  await db.put("meta", { k: "a", v: 1 });
  await db.remove("meta", "a");
  await db.atomic(["meta", "intents"], (s) => { s.meta.put({ k: "b", v: 2 }); });
  await db.get("meta", "b");
  await db.allFor("intents", "alice");
  await db.all("meta");
  const writes = opened.filter((t) => t.mode === "readwrite");
  assert.equal(writes.length, 3, "put, remove and atomic each open one read-write transaction");
  for (const t of writes) assert.deepEqual(t.options, { durability: "strict" }, `${[t.names].flat().join(", ")} is opened without strict durability`);
  assert.equal(opened.length, 6);
});
