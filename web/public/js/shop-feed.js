// Shop mode's announcements (pages/shop.js): each payment the shop receives while the app is
// open (a `money_in` event from the live connection, or an offline card note accepted on this
// phone) becomes "₹250.00 received from asha", kept in memory for the shop screen (newest first),
// with a short tone (WebAudio) and, where `speechSynthesis` exists, the amount spoken ("Received
// 250 rupees from asha"). Sound and speech play only while the shop screen is open.

const MAX_KEPT = 20;
const feed = [];
const listeners = new Set();
let soundOn = false;
let audio = null;

/** The announcements so far, newest first: [{text, spoken, amount, from, atMs, entryId?, noteHash?}]. */
export const announcements = () => feed.slice();

/** Forgets every announcement (at login and logout: they belong to the person logged in). */
export function forgetAnnouncements() {
  feed.length = 0;
}

/** Calls `fn()` after every new announcement; returns the function that stops it. */
export function onAnnounce(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Sound and speech on (the shop screen is open) or off. */
export function setSound(on) { soundOn = on; }

/** "Received 250 rupees from asha" (whole rupees and paise in words for INR; "250.50 USD" otherwise). */
export function spokenAmount(minor, currency, decimals, from) {
  const base = 10 ** decimals;
  const whole = Math.floor(minor / base);
  const frac = minor % base;
  let money;
  if (currency === "INR") money = `${whole} rupees${frac ? ` ${frac} paise` : ""}`;
  else money = `${(minor / base).toFixed(decimals)} ${currency}`;
  return `Received ${money}${from ? ` from ${from}` : ""}`;
}

function tone() {
  try {
    audio ??= new AudioContext();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = "sine";
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.2, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.35);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.35);
  } catch { /* no audio on this browser */ }
}

function speak(text) {
  try {
    if (!("speechSynthesis" in globalThis)) return;
    const u = new SpeechSynthesisUtterance(text);
    u.lang = "en-IN";
    speechSynthesis.speak(u);
  } catch { /* no speech on this browser */ }
}

/**
 * Announces a payment of `amount` (minor units) from `from` (handle or "account 12"). `app` gives
 * the formatting (money.js through app.money) and the currency. The same entry or note is
 * announced once.
 */
export function announce(app, { amount, from, entryId = null, noteHash = null }) {
  // A live event gives the entry id as a number, a receipt as text: compared as text.
  entryId = entryId === null ? null : String(entryId);
  if (entryId !== null && feed.some((a) => a.entryId === entryId)) return;
  if (noteHash !== null && feed.some((a) => a.noteHash === noteHash)) return;
  const text = `${app.money(amount)} received${from ? ` from ${from}` : ""}`;
  const spoken = spokenAmount(amount, app.config.currency, app.config.decimals ?? 2, from);
  feed.unshift({ text, spoken, amount, from, atMs: Date.now(), entryId, noteHash });
  feed.length = Math.min(feed.length, MAX_KEPT);
  if (soundOn) { tone(); speak(spoken); }
  for (const fn of listeners) fn();
}

/**
 * A payment reached the account that this screen does not announce (made at another counter, or
 * a plain transfer): the listeners run again, so that Shop mode's takings stay current.
 */
export function paymentArrived() {
  for (const fn of listeners) fn();
}
