// The sentences the web wallet shows for the server's error codes (public/js/api.js): the plain
// words for a code, and how long to wait when the server says so with Retry-After.
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
