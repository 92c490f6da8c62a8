// offline/db.js without a browser: the database never hangs another tab silently. When a newer
// version of the app opens the database with a higher version (another tab), this tab's
// connection closes at once (`onversionchange`) and the app is told (the event `offpay-db-closed`,
// main.js asks to reload); when this tab's upgrade waits for an older tab to close its connection
// (`onblocked`), the app is told too (`offpay-db-blocked`). A stub `indexedDB` plays both sides.
import { test } from "node:test";
import assert from "node:assert/strict";

const events = [];
globalThis.dispatchEvent = (e) => { events.push(e.type); return true; };

const opens = [];
const fakeDb = { closed: 0, objectStoreNames: { contains: () => true }, close() { this.closed += 1; } };
globalThis.indexedDB = {
  open: () => {
    const req = { result: fakeDb };
    opens.push(req);
    return req;
  },
};

const db = await import("../public/js/offline/db.js");

test("a blocked upgrade is told, a version change closes the connection and is told, and the next use opens again", async () => {
  const first = db.openDb();
  const req = opens[0];
  req.onblocked?.();
  assert.deepEqual(events, ["offpay-db-blocked"]);
  req.onsuccess();
  assert.equal(await first, fakeDb);
  assert.equal(typeof fakeDb.onversionchange, "function");
  fakeDb.onversionchange();
  assert.equal(fakeDb.closed, 1, "closed so the other tab's upgrade goes on");
  assert.deepEqual(events, ["offpay-db-blocked", "offpay-db-closed"]);
  const again = db.openDb();
  assert.equal(opens.length, 2, "a closed connection is not used again");
  opens[1].onsuccess();
  assert.equal(await again, fakeDb);
});
