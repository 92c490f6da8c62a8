// Shop mode (#/shop): the counter screen. Every payment received while it is open is announced
// large ("₹250.00 received from asha": a `money_in` event from the live connection, or an
// offline card note accepted here), with a tone and the amount spoken (shop-feed.js); today's
// takings and count; totals per day of the last 30 days as a bar chart (uPlot, vendored); a CSV
// export of a date range (GET /v1/history, page by page: offline/takings.js). A payment given
// back after the counter refused it comes off the takings of the day it went back: today's line
// says how many went back and how much, the totals are net, the CSV has it as a negative row.
// Offline card notes are scanned here too ("Accept offline payment"): one scan, checked with no
// server.

import { api } from "../api.js";
import { h, field, title, errorLine } from "../ui.js";
import { scanner } from "../qr.js";
import { toMajorInput } from "../money.js";
import { acceptText } from "../offline/wallet.js";
import { allFor } from "../offline/db.js";
import { myCard } from "../offline/shop.js";
import { autoSync } from "../offline/sync.js";
import { announce, announcements, onAnnounce, setSound } from "../shop-feed.js";
import { hex } from "../protocol/crypto.js";
import { isReturned, isTaking, localDay, perDay, takingsCsv, takingsOn } from "../offline/takings.js";

const DAY_MS = 24 * 3600 * 1000;
const PAGE = 200;
/** At most this many history pages are read for one chart or export (200 entries each). */
const MAX_PAGES = 50;

/** The caller's history items created at or after `sinceMs`, newest first, page by page. */
export async function historySince(app, sinceMs) {
  const items = [];
  let before = null;
  for (let n = 0; n < MAX_PAGES; n++) {
    const r = await api.history(app.session.token, { before, limit: PAGE });
    const page = r.items ?? [];
    items.push(...page.filter((i) => i.created_at_ms >= sinceMs));
    if (!r.next_before || !page.length || page[page.length - 1].created_at_ms < sinceMs) break;
    before = r.next_before;
  }
  return items;
}

/** Offline card notes accepted on this phone and not settled yet, as history-like takings. */
async function unsettledNotes(handle) {
  const received = await allFor("received", handle).catch(() => []);
  return received.filter((r) => !r.settled).map((r) => ({
    kind: "offline_settle", delta: r.amount, created_at_ms: r.acceptedMs, counterparty: r.payerHandle ?? `account ${r.payer}`, entry_id: "", note: r.noteHash,
  }));
}

let uplotCss = false;
/** Ends the announcements subscription of the shop screen shown last (a no-op when none is). */
let stopListening = () => {};
async function barChart(app, days) {
  const { default: uPlot } = await import("../../vendor/uPlot.esm.js");
  if (!uplotCss) {
    document.head.append(h("link", { rel: "stylesheet", href: "/vendor/uPlot.min.css" }));
    uplotCss = true;
  }
  const box = h("div", { class: "chart", role: "img", "data-testid": "takings-chart",
    "aria-label": `Takings per day, last ${days.length} days: ${app.money(days.reduce((s, d) => s + d.total, 0))} in total` });
  const base = 10 ** (app.config.decimals ?? 2);
  const width = Math.max(280, Math.min(620, (document.getElementById("view")?.clientWidth ?? 360) - 40));
  // eslint-disable-next-line no-new
  new uPlot({
    width, height: 200, legend: { show: false }, cursor: { show: false },
    scales: { x: { time: true } },
    axes: [{ space: 60 }, { size: 60, values: (u, vals) => vals.map((v) => app.money(Math.round(v * base)).replace(/\.00$/, "")) }],
    series: [{}, { label: "Takings", stroke: "#0b5d4b", fill: "#0b5d4b", width: 1, points: { show: false }, paths: uPlot.paths.bars({ size: [0.7, 30] }) }],
  }, [days.map((d) => Date.parse(`${d.day}T12:00:00`) / 1000), days.map((d) => d.total / base)], box);
  return box;
}

function saveFile(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export async function render(app) {
  const handle = app.session.handle;
  const isOnline = () => app.online && !app.offlineOnly && Boolean(app.session.token);
  const online = isOnline();
  const section = h("section", {}, title("Shop mode"));
  setSound(true);
  const live = h("div", { role: "status", "aria-live": "assertive", "data-testid": "announcements" });
  const today = h("p", { class: "card", "data-testid": "today-takings" });
  const showFeed = () => {
    const list = announcements();
    live.replaceChildren(...(list.length
      ? list.slice(0, 5).map((a, i) => h("p", { class: i ? "announce old" : "announce", "data-testid": i ? null : "announcement" }, a.text))
      : [h("p", { class: "hint" }, "Waiting for payments. Each payment is announced here as it arrives.")]));
  };
  showFeed();

  let items = [];
  const showToday = async () => {
    const local = await unsettledNotes(handle);
    const t = takingsOn([...items, ...local], localDay(Date.now()));
    today.replaceChildren(...[h("span", { class: "label" }, "Today"),
      h("span", { class: "amount-big", "data-testid": "today-total" }, app.money(t.total)),
      h("span", { "data-testid": "today-count" }, `${t.count} payment${t.count === 1 ? "" : "s"}`),
      t.returned ? h("span", { "data-testid": "today-returned" }, ` (${t.returned} returned: ${app.money(t.returnedTotal)})`) : null,
      isOnline() ? null : h("span", { class: "hint" }, " (with no connection: payments accepted on this phone and those seen before)")].filter(Boolean));
  };
  const chartSlot = h("div");
  const drawChart = async () => {
    try {
      chartSlot.replaceChildren(await barChart(app, perDay(items, Date.now(), 30)));
    } catch (e) {
      chartSlot.replaceChildren(h("p", { class: "hint" }, "The chart could not be drawn."));
      console.warn("chart", e);
    }
  };
  const refresh = async () => {
    if (isOnline()) {
      try {
        items = await historySince(app, Date.now() - 31 * DAY_MS);
        await drawChart();
      } catch (e) {
        app.handleError(e);
      }
    }
    await showToday();
  };
  // One subscription: a render of this page replaces the one before it.
  stopListening();
  const stop = onAnnounce(() => { showFeed(); refresh(); });
  stopListening = () => { stop(); setSound(false); };
  window.addEventListener("hashchange", () => stopListening(), { once: true });

  // Offline card notes: one scan at the counter.
  const mine = await myCard(handle);
  const noteIn = h("textarea", { id: "shop-note-in", rows: "4", autocomplete: "off", spellcheck: "false", "aria-label": "Payment note" });
  const err = errorLine(noteIn);
  const acceptButton = h("button", { type: "submit" }, "Accept");
  const submit = async () => {
    err.textContent = "";
    if (!noteIn.value.trim()) { err.textContent = "Scan or paste the customer's payment code."; return; }
    acceptButton.disabled = true;
    try {
      const r = await acceptText(app, noteIn.value);
      noteIn.value = "";
      if (r.receipt) announce(app, { amount: r.amount, from: r.payerHandle ?? `account ${r.payer}`, entryId: r.entryId.toString() });
      else announce(app, { amount: r.amount, from: `account ${r.payer}`, noteHash: hex(r.noteHash) });
      autoSync(app);
    } catch (e) {
      // A code refused and kept to be given back (for a clock, a retired card, an unknown issuer
      // key or a revoked purse: counter-refusals.js): online, at once.
      if (e.kept) autoSync(app);
      err.textContent = e.code === "already_accepted" && e.earlier
        ? `Already received: ${app.money(e.earlier.amount)} on ${new Date(e.earlier.acceptedMs).toLocaleString()}. Nothing more was received.`
        : `Not accepted. ${e.reason ?? e.message}`;
    } finally {
      acceptButton.disabled = false;
    }
  };
  const scan = scanner((text) => { noteIn.value = text; submit(); }, (m) => { err.textContent = m; });

  await refresh();
  section.append(live, today,
    h("h2", {}, "Accept offline payment"),
    mine ? h("form", { "aria-label": "Accept offline payment", onsubmit: (e) => { e.preventDefault(); submit(); } },
      h("p", { class: "hint" }, "A customer with no connection shows a payment code: scan it once. Check the amount against the bill."),
      scan.node, noteIn, err, acceptButton)
      : h("p", {}, "Make your shop card first: ", h("a", { href: "#/shop/card" }, "Shop card")));

  if (online) {
    section.append(h("h2", {}, "Last 30 days"), chartSlot);
    const todayDay = localDay(Date.now());
    const from = field("From", { type: "date", name: "from", value: localDay(Date.now() - 6 * DAY_MS), max: todayDay });
    const to = field("To", { type: "date", name: "to", value: todayDay, max: todayDay });
    const csvErr = errorLine(from.input, to.input);
    const done = h("p", { role: "status", "data-testid": "csv-status" });
    section.append(h("h2", {}, "Export"), h("form", { "aria-label": "Export CSV", onsubmit: async (e) => {
      e.preventDefault();
      csvErr.textContent = "";
      done.textContent = "";
      const a = from.input.value;
      const b = to.input.value;
      if (!a || !b || a > b) { csvErr.textContent = "Choose a start date on or before the end date."; return; }
      try {
        const since = Date.parse(`${a}T00:00:00`);
        const all = await historySince(app, since);
        const csv = takingsCsv(all, a, b, (m) => toMajorInput(m, app.config.decimals ?? 2));
        const inRange = all.filter((i) => localDay(i.created_at_ms) >= a && localDay(i.created_at_ms) <= b);
        const n = inRange.filter(isTaking).length;
        const back = inRange.filter(isReturned).length;
        saveFile(`takings-${a}-to-${b}.csv`, csv, "text/csv");
        done.textContent = `${n} payment${n === 1 ? "" : "s"}${back ? ` and ${back} returned` : ""} exported.`;
      } catch (e2) {
        app.handleError(e2);
        csvErr.textContent = e2.reason ?? e2.message;
      }
    } }, h("div", { class: "row" }, from.label, to.label), csvErr, h("button", { type: "submit" }, "Export CSV"), done));
  }
  // The amount screen (issue 14, item 4): a one-off code with the amount filled in is a payment
  // request made on Receive (docs/decisions/shop-card.md, "Amount-filled one-off QR").
  section.append(h("div", { class: "actions" }, h("a", { class: "button secondary", href: "#/receive" }, "Ask for an amount"),
    h("a", { class: "button secondary", href: "#/shop/card" }, "Shop card"),
    h("a", { class: "button secondary", href: "#/home" }, "Home")));
  return section;
}
