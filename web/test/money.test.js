// Unit tests of major/minor amount conversion (public/js/money.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseMajor, formatMoney, formatPlain, toMajorInput } from "../public/js/money.js";

test("parses major units into minor units", () => {
  assert.deepEqual(parseMajor("12.50"), { ok: true, minor: 1250 });
  assert.deepEqual(parseMajor("12.5"), { ok: true, minor: 1250 });
  assert.deepEqual(parseMajor(" 1000 "), { ok: true, minor: 100000 });
  assert.deepEqual(parseMajor("0.01"), { ok: true, minor: 1 });
  assert.deepEqual(parseMajor("₹250.00"), { ok: true, minor: 25000 });
  assert.deepEqual(parseMajor("7", 0), { ok: true, minor: 7 });
});

test("refuses bad amounts with a plain reason", () => {
  for (const bad of ["", "0", "0.00", "-1", "1.234", "1,000", "abc", "1e3", "1.", ".5.5", "90071992547409.92"]) {
    const r = parseMajor(bad);
    assert.equal(r.ok, false, bad);
    assert.ok(r.reason.length > 5, bad);
  }
  assert.equal(parseMajor("1.234").reason, "Use at most 2 digits after the point.");
  assert.equal(parseMajor("0").reason, "The amount must be more than zero.");
  assert.equal(parseMajor("1.5", 0).ok, false);
});

test("formats minor units", () => {
  assert.equal(formatPlain(125050), "1,250.50");
  assert.equal(formatPlain(5), "0.05");
  assert.equal(formatMoney(100000, "INR"), "₹1,000.00");
  assert.equal(formatMoney(-25000, "INR"), "-₹250.00");
  assert.equal(formatMoney(1234567, "XYZ"), "XYZ 12,345.67");
  assert.equal(formatMoney(7, "JPY", 0), "JPY 7");
  assert.equal(toMajorInput(125050), "1250.50");
  assert.equal(parseMajor(toMajorInput(Number.MAX_SAFE_INTEGER)).minor, Number.MAX_SAFE_INTEGER);
});
