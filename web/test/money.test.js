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
  // Rupees in the Indian grouping (lakh, crore); other currencies in thousands.
  assert.equal(formatMoney(12345678, "INR"), "₹1,23,456.78");
  assert.equal(formatMoney(1234567890, "INR"), "₹1,23,45,678.90");
  assert.equal(formatMoney(-10000000, "INR"), "-₹1,00,000.00");
  assert.equal(formatMoney(12345678, "EUR"), "€123,456.78");
  assert.equal(formatPlain(Number.MAX_SAFE_INTEGER, 2, "INR"), "9,00,71,99,25,47,409.91");
  assert.equal(formatMoney(7, "JPY", 0), "JPY 7");
  assert.equal(toMajorInput(125050), "1250.50");
  assert.equal(parseMajor(toMajorInput(Number.MAX_SAFE_INTEGER)).minor, Number.MAX_SAFE_INTEGER);
});
