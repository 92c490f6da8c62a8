// A shop's takings from its history (pure: no IndexedDB, no network, no clock; the caller gives
// the time zone's day through `dayOf`): which entries are money taken (online payments in and
// settled offline notes), today's total and count, totals per day for a bar chart, and the CSV of a
// date range (columns date, time, amount, from, entry id, note id). Amounts stay in minor units
// until formatted by the caller (money.js).

/** Is this history item (docs/API.md HistoryItem) money paid to me by someone: an online payment in or a settled offline note in? */
export const isTaking = (item) => item.delta > 0 && (item.kind === "transfer" || item.kind === "offline_settle");

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

/** {total, count} of the takings among `items` on `day` ("YYYY-MM-DD", by `dayOf`). */
export function takingsOn(items, day, dayOf = localDay) {
  let total = 0;
  let count = 0;
  for (const i of items) {
    if (!isTaking(i) || dayOf(i.created_at_ms) !== day) continue;
    total += i.delta;
    count += 1;
  }
  if (!Number.isSafeInteger(total)) throw new RangeError("takings total out of range");
  return { total, count };
}

/** The last `days` days ending on `todayMs`'s day, oldest first: [{day, total, count}] (days with nothing are 0). */
export function perDay(items, todayMs, days = 30, dayOf = localDay) {
  const out = [];
  const index = new Map();
  for (let k = days - 1; k >= 0; k--) {
    const d = new Date(todayMs);
    d.setDate(d.getDate() - k);
    const day = dayOf(d.getTime());
    index.set(day, out.length);
    out.push({ day, total: 0, count: 0 });
  }
  for (const i of items) {
    if (!isTaking(i)) continue;
    const at = index.get(dayOf(i.created_at_ms));
    if (at === undefined) continue;
    out[at].total += i.delta;
    out[at].count += 1;
    if (!Number.isSafeInteger(out[at].total)) throw new RangeError("takings total out of range");
  }
  return out;
}

/** One CSV field: quoted when it holds a comma, quote or line break; a leading =, +, - or @ is quoted with a ' so spreadsheets do not run it. */
function csvField(v) {
  let s = v === null || v === undefined ? "" : String(v);
  if (/^[=+\-@]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/**
 * The CSV of the takings among `items` whose day is within [fromDay, toDay] (inclusive,
 * "YYYY-MM-DD"), oldest first; `formatAmount(minor)` writes the amount ("250.00").
 */
export function takingsCsv(items, fromDay, toDay, formatAmount, dayOf = localDay, timeOf = localTime) {
  const rows = items.filter((i) => isTaking(i) && dayOf(i.created_at_ms) >= fromDay && dayOf(i.created_at_ms) <= toDay)
    .sort((a, b) => a.created_at_ms - b.created_at_ms || a.entry_id - b.entry_id)
    .map((i) => [dayOf(i.created_at_ms), timeOf(i.created_at_ms), formatAmount(i.delta), i.counterparty ?? "", i.entry_id, i.note ?? ""]);
  return [["date", "time", "amount", "from", "entry id", "note id"], ...rows].map((r) => r.map(csvField).join(",")).join("\r\n") + "\r\n";
}
