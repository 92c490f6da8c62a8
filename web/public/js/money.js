// Amounts: users type and read major units ("12.50"); the wire carries integers in minor units.
// Pure functions, shared by the pages and the node unit tests.

/** The largest amount this app will put on the wire (JavaScript integers are exact up to here). */
export const MAX_MINOR = Number.MAX_SAFE_INTEGER;

const SYMBOLS = { INR: "₹", EUR: "€", USD: "$", GBP: "£" };

/**
 * Parses a major-unit amount typed by a person into minor units.
 * Returns {ok: true, minor} or {ok: false, reason} with the reason in plain words.
 */
export function parseMajor(text, decimals = 2) {
  const s = String(text ?? "").trim().replace(/^[₹€$£]\s*/, "");
  if (s === "") return { ok: false, reason: "Enter an amount." };
  const re = decimals > 0 ? new RegExp(`^(\\d+)(?:\\.(\\d{1,${decimals}}))?$`) : /^(\d+)$/;
  const m = re.exec(s);
  if (!m) {
    if (decimals > 0 && /^\d*\.\d+$/.test(s)) {
      return { ok: false, reason: `Use at most ${decimals} digits after the point.` };
    }
    return { ok: false, reason: "Type the amount as a number, for example 12.50." };
  }
  const whole = BigInt(m[1]);
  const frac = BigInt((m[2] ?? "").padEnd(decimals, "0") || "0");
  const minor = whole * 10n ** BigInt(decimals) + frac;
  if (minor === 0n) return { ok: false, reason: "The amount must be more than zero." };
  if (minor > BigInt(MAX_MINOR)) return { ok: false, reason: "That amount is too large." };
  return { ok: true, minor: Number(minor) };
}

/**
 * How whole units are grouped: rupees the Indian way (1,23,456), through `Intl.NumberFormat`
 * with the en-IN locale; other currencies in thousands (123,456).
 */
const GROUPING = { INR: new Intl.NumberFormat("en-IN") };
const THOUSANDS = new Intl.NumberFormat("en-US");

/**
 * Formats minor units as major units, without a currency sign: 125050 -> "1,250.50"; with
 * "INR", 12345678 -> "1,23,456.78".
 */
export function formatPlain(minor, decimals = 2, currency = "") {
  const n = BigInt(minor);
  const neg = n < 0n;
  const abs = neg ? -n : n;
  const base = 10n ** BigInt(decimals);
  const whole = (GROUPING[currency] ?? THOUSANDS).format(abs / base);
  const frac = decimals > 0 ? "." + (abs % base).toString().padStart(decimals, "0") : "";
  return (neg ? "-" : "") + whole + frac;
}

/** Formats minor units with the currency sign: 125050 INR -> "₹1,250.50", 12345678 -> "₹1,23,456.78". */
export function formatMoney(minor, currency = "INR", decimals = 2) {
  const sign = SYMBOLS[currency] ?? `${currency} `;
  const n = Number(minor);
  const text = formatPlain(Math.abs(n), decimals, currency);
  return (n < 0 ? "-" : "") + sign + text;
}

/** Major-unit text for an input field (no grouping): 125050 -> "1250.50". */
export function toMajorInput(minor, decimals = 2) {
  return formatPlain(minor, decimals).replaceAll(",", "");
}
