// The logged-in session (handle, token, expiry) and small cached facts, kept in localStorage so the
// app opens offline. The device key and offline money live in IndexedDB (db.js), not here.

const SESSION_KEY = "offpay.session";
const CONFIG_KEY = "offpay.config";

export function loadSession() {
  try {
    const s = JSON.parse(localStorage.getItem(SESSION_KEY) ?? "null");
    if (s && typeof s.handle === "string" && typeof s.token === "string") return s;
  } catch { /* a broken entry is the same as none */ }
  return null;
}

export function saveSession(s) {
  localStorage.setItem(SESSION_KEY, JSON.stringify({ handle: s.handle, token: s.token, expires_at_ms: s.expires_at_ms }));
  if (typeof s.device_token === "string") saveDeviceToken(s.handle, s.device_token);
}

// The device token the server gave at a sign-in, one per handle. It is sent with the next login
// so that strangers guessing the password never lock this device out (docs/API.md). It outlives
// logout: logging out ends the session, not the device's standing.
function deviceTokenKey(handle) {
  return `offpay.device.${String(handle).trim().toLowerCase()}`;
}

/** The device token for `handle` (as typed), or undefined. */
export function deviceToken(handle) {
  const t = localStorage.getItem(deviceTokenKey(handle));
  return typeof t === "string" && /^[0-9a-f]{64}$/.test(t) ? t : undefined;
}

export function saveDeviceToken(handle, token) {
  localStorage.setItem(deviceTokenKey(handle), token);
}

export function clearSession() {
  localStorage.removeItem(SESSION_KEY);
}

export function loadConfig() {
  try {
    const c = JSON.parse(localStorage.getItem(CONFIG_KEY) ?? "null");
    if (c && typeof c.currency === "string" && Number.isInteger(c.decimals)) return c;
  } catch { /* fall through */ }
  return { currency: "INR", decimals: 2 };
}

export function saveConfig(c) {
  localStorage.setItem(CONFIG_KEY, JSON.stringify({ currency: c.currency, decimals: c.decimals, offline: c.offline ?? null }));
}

/** Last seen WebSocket event sequence number for a user (0: none). */
export function lastSeq(handle) {
  const n = Number(localStorage.getItem(`offpay.seq.${handle}`) ?? "0");
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

export function saveSeq(handle, seq) {
  localStorage.setItem(`offpay.seq.${handle}`, String(seq));
}

/** Last known balance, shown while offline. */
export function cachedMe(handle) {
  try { return JSON.parse(localStorage.getItem(`offpay.me.${handle}`) ?? "null"); } catch { return null; }
}

export function saveMe(handle, me) {
  localStorage.setItem(`offpay.me.${handle}`, JSON.stringify(me));
}
