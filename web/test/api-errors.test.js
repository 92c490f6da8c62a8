// The sentences the web wallet shows for the server's error codes (public/js/api.js): the plain
// words for a code, how long to wait when the server says so with Retry-After, and a 2xx answer
// whose body cannot be read (an unknown outcome: it may have been done).
import { test } from "node:test";
import assert from "node:assert/strict";
import { ApiError } from "../public/js/api.js";

test("a busy server says how long to wait when it is more than a moment", () => {
  assert.equal(new ApiError(503, "busy", "x", 1).reason, "The server is busy. Try again in a moment.");
  assert.equal(new ApiError(503, "busy", "x", 5).reason, "The server is busy. Try again in a moment.");
  assert.equal(new ApiError(503, "busy", "x", 30).reason, "The server is busy. Try again in 30 seconds.");
  assert.equal(new ApiError(503, "busy", "x", 60).reason, "The server is busy. Try again in 1 minute.");
  assert.equal(new ApiError(503, "busy", "x", 61).reason, "The server is busy. Try again in 2 minutes.");
});

test("sign-in throttling says minutes, and unknown codes keep the server's sentence", () => {
  assert.equal(new ApiError(429, "too_many_attempts", "x", 30).reason, "Too many attempts. Wait a moment and try again.");
  assert.equal(new ApiError(429, "too_many_attempts", "x", 600).reason, "Too many attempts. Try again in 10 minutes.");
  assert.equal(new ApiError(422, "something_new", "the server's own words").reason, "the server's own words");
});

test("a 2xx answer whose body cannot be read is an error of unknown outcome, not an answer and not a refusal", async () => {
  const { call } = await import("../public/js/api.js");
  const { isRefusal } = await import("../public/js/intents.js");
  const realFetch = globalThis.fetch;
  const answers = [new Response("<html>a proxy's page</html>", { status: 201 }), new Response("", { status: 200 }), new Response(null, { status: 204 })];
  globalThis.fetch = async () => answers.shift();
  try {
    for (const status of [201, 200]) {
      const e = await call("POST", "/v1/transfers", { body: {} }).then(() => null, (err) => err);
      assert.ok(e instanceof ApiError, `a ${status} with no readable body is an error`);
      assert.equal(e.status, status);
      assert.equal(e.code, "unreadable_answer");
      assert.equal(e.reason, "The server's answer could not be read.");
      assert.equal(isRefusal(e), false, "the outcome is unknown: the intent stays");
    }
    assert.equal(await call("POST", "/v1/logout"), null, "204 has no body");
  } finally {
    globalThis.fetch = realFetch;
  }
});

test("a key sent again is settled only by the server's own verdict on it, never by a 408, a proxy's page or an unknown code", async () => {
  const { isRefusal, KEY_SETTLING_CODES } = await import("../public/js/intents.js");
  // A fresh key: any refusal of the request (but a session, timeout or rate answer) settles it.
  for (const [status, code] of [[403, "account_frozen"], [422, "insufficient_funds"], [404, "internal"]]) {
    assert.equal(isRefusal(new ApiError(status, code, "x"), false), true, `${status} ${code}, fresh`);
  }
  // A key sent again after an attempt with no answer: only the server's verdict on the key.
  for (const [status, code] of [[422, "insufficient_funds"], [409, "idempotency_conflict"], [404, "unknown_user"], [400, "invalid_amount"]]) {
    assert.equal(isRefusal(new ApiError(status, code, "x"), true), true, `${status} ${code}, reused`);
  }
  for (const [status, code] of [[408, "request_timeout"], [403, "internal"], [404, "internal"], [421, "internal"], [400, "offline_limit"], [400, "a_code_of_a_newer_server"], [403, "account_frozen"], [401, "unauthorized"], [429, "rate_limited"]]) {
    assert.equal(isRefusal(new ApiError(status, code, "x"), true), false, `${status} ${code}, reused: may have paid`);
    assert.equal(isRefusal(new ApiError(status, code, "x")), false, `${status} ${code}: a retry by default`);
  }
  assert.ok(KEY_SETTLING_CODES.includes("insufficient_funds"));
});

test("the web wallet's settling codes are the terminal wallet's", async () => {
  const { KEY_SETTLING_CODES } = await import("../public/js/intents.js");
  const { readFileSync } = await import("node:fs");
  const rust = readFileSync(new URL("../../crates/wallet/src/client/error.rs", import.meta.url), "utf8");
  const list = rust.slice(rust.indexOf("pub const KEY_SETTLING_CODES"), rust.indexOf("];", rust.indexOf("pub const KEY_SETTLING_CODES")));
  const codes = [...list.matchAll(/"([a-z_]+)"/g)].map((m) => m[1]);
  assert.deepEqual([...KEY_SETTLING_CODES].sort(), codes.sort());
});

test("a purse load sent again is also closed by a lasting refusal, a send is not", async () => {
  const { isRefusal, LOAD_SETTLING_CODES } = await import("../public/js/intents.js");
  for (const code of ["offline_limit", "device_revoked", "account_frozen"]) {
    assert.equal(isRefusal(new ApiError(403, code, "x"), true, "load"), true, code);
    assert.equal(isRefusal(new ApiError(403, code, "x"), true, "send"), false, code);
  }
  assert.equal(isRefusal(new ApiError(408, "request_timeout", "x"), true, "load"), false);
  const { readFileSync } = await import("node:fs");
  const rust = readFileSync(new URL("../../crates/wallet/src/client/error.rs", import.meta.url), "utf8");
  const start = rust.indexOf("pub const LOAD_SETTLING_CODES");
  const codes = [...rust.slice(start, rust.indexOf("];", start)).matchAll(/"([a-z_]+)"/g)].map((m) => m[1]);
  assert.deepEqual([...LOAD_SETTLING_CODES].sort(), codes.sort());
});
