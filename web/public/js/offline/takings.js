// A shop's takings from its history (pure: no IndexedDB, no network, no clock; the caller gives
// the time zone's day through `dayOf`): which entries are money taken (online payments in and
// settled offline notes, but not a payment given back to this account by another shop's counter)
// and which are payments given back after the counter refused them (isReturned: they come off
// the takings of the day they went back), today's total (net) and count, totals per day (net)
// for a bar chart, and the CSV of a date range (columns date, time, amount, from, entry id, note
// id; a payment given back is a row with a negative amount). Amounts stay in minor units until
// formatted by the caller (money.js).

/**
 * The memo of the `transfer` that gives back a note this shop refused at its counter after it was
 * paid (`POST /v1/notes/refusals`, docs/API-OFFLINE.md): offpay-api's `COUNTER_REFUND_MEMO`
 * (crates/api/src/money.rs), word for word.
 */
export const COUNTER_REFUND_MEMO = "Returned: payment refused at the shop's counter";

/**
 * Is this history item a payment given back at a shop's counter, either way: a transfer with the
 * server's refund memo (COUNTER_REFUND_MEMO)? Nothing but the server's refund carries that memo:
 * the server refuses it on any transfer it did not write itself (400 `invalid_memo`).
 */
const isRefund = (item) => item.kind === "transfer" && item.memo === COUNTER_REFUND_MEMO;

/**
 * Is this history item (docs/API.md HistoryItem) money paid to me by someone: an online payment in
 * or a settled offline note in? Not a payment given back to me (an incoming transfer with the
 * refund memo: my own purchase at another shop, refused at its counter and given back), which is
 * no sale.
 */
export const isTaking = (item) => item.delta > 0 && (item.kind === "transfer" || item.kind === "offline_settle") && !isRefund(item);

/**
 * Is this history item a payment given back after this shop's counter refused it: an outgoing
 * transfer with the server's refund memo (COUNTER_REFUND_MEMO)? Nothing but the server's refund
 * carries that memo (the server refuses it on any transfer it did not write itself, `invalid_memo`),
 * so no one can make a line look returned, nor look like a payment given back to this account.
 */
export const isReturned = (item) => item.delta < 0 && isRefund(item);

/** Is this history item a line of the takings: a payment in (isTaking) or one given back (isReturned)? */
export const inTakings = (item) => isTaking(item) || isReturned(item);

/** The local calendar day of `ms` as "YYYY-MM-DD". */
export function localDay(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

/** The local time of day of `ms` as "HH:MM:SS". */
export function localTime(ms) {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
}

/** An empty day of takings: {total (net, minor units), count (payments in), returned (payments given back), returnedTotal (their sum, positive)}. */
const nothing = () => ({ total: 0, count: 0, returned: 0, returnedTotal: 0 });

/** Adds the takings line `item` (inTakings) to `sums` (as `nothing` makes). */
function add(sums, item) {
  sums.total += item.delta;
  if (isReturned(item)) {
    sums.returned += 1;
    sums.returnedTotal -= item.delta;
  } else {
    sums.count += 1;
  }
  if (!Number.isSafeInteger(sums.total) || !Number.isSafeInteger(sums.returnedTotal)) throw new RangeError("takings total out of range");
}

/**
 * The takings among `items` on `day` ("YYYY-MM-DD", by `dayOf`): {total, count, returned,
 * returnedTotal}. `total` is net (what came in less what went back that day), `count` the
 * payments in, `returned` the payments given back that day and `returnedTotal` their sum
 * (positive minor units).
 */
export function takingsOn(items, day, dayOf = localDay) {
  const sums = nothing();
  for (const i of items) {
    if (inTakings(i) && dayOf(i.created_at_ms) === day) add(sums, i);
  }
  return sums;
}

/**
 * The last `days` days ending on `todayMs`'s day, oldest first: [{day, total, count, returned,
 * returnedTotal}] as takingsOn counts them (net totals; days with nothing are 0).
 */
export function perDay(items, todayMs, days = 30, dayOf = localDay) {
  const out = [];
  const index = new Map();
  for (let k = days - 1; k >= 0; k--) {
    const d = new Date(todayMs);
    d.setDate(d.getDate() - k);
    const day = dayOf(d.getTime());
    index.set(day, out.length);
    out.push({ day, ...nothing() });
  }
  for (const i of items) {
    if (!inTakings(i)) continue;
    const at = index.get(dayOf(i.created_at_ms));
    if (at !== undefined) add(out[at], i);
  }
  return out;
}

/**
 * One CSV field: quoted when it holds a comma, quote or line break; text starting with =, +, - or
 * @ gets a leading ' so spreadsheets do not run it as a formula, except a plain number ("-10.00",
 * a payment given back), which a spreadsheet only reads as that number.
 */
export function csvField(v) {
  let s = v === null || v === undefined ? "" : String(v);
  if (/^[=+\-@]/.test(s) && !/^-\d+(\.\d+)?$/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/**
 * The CSV of the takings among `items` whose day is within [fromDay, toDay] (inclusive,
 * "YYYY-MM-DD"), oldest first; `formatAmount(minor)` writes the amount ("250.00", and "-10.00"
 * for a payment given back after the counter refused it: its row has the negative amount, and
 * the person it went back to as "from").
 */
export function takingsCsv(items, fromDay, toDay, formatAmount, dayOf = localDay, timeOf = localTime) {
  const rows = items.filter((i) => inTakings(i) && dayOf(i.created_at_ms) >= fromDay && dayOf(i.created_at_ms) <= toDay)
    .sort((a, b) => a.created_at_ms - b.created_at_ms || a.entry_id - b.entry_id)
    .map((i) => [dayOf(i.created_at_ms), timeOf(i.created_at_ms), formatAmount(i.delta), i.counterparty ?? "", i.entry_id, i.note ?? ""]);
  return [["date", "time", "amount", "from", "entry id", "note id"], ...rows].map((r) => r.map(csvField).join(",")).join("\r\n") + "\r\n";
}
