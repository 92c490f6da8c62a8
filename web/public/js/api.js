// HTTP client for the offpay server's /v1 API (docs/API.md). Same origin as the app.
// Every failure becomes an ApiError whose `reason` is a plain-words sentence for the person.

const PLAIN = {
  network: "Could not reach the server. Check your connection and try again.",
  invalid_credentials: "Wrong username or password.",
  handle_taken: "That username is already taken.",
  weak_password: "The password must have at least 8 characters.",
  insufficient_funds: "Not enough money in your balance.",
  unknown_user: "There is no user with that username.",
  same_account: "You cannot send money to yourself.",
  payee_mismatch: "This shop card's username belongs to someone other than the account it names. Nothing was paid: do not pay this card.",
  account_frozen: "Your account is frozen. Contact the operator.",
  invalid_amount: "That amount is not valid.",
  invalid_memo: "The message may not contain line breaks or special text-direction characters.",
  too_many_attempts: "Too many attempts. Wait a moment and try again.",
  rate_limited: "Too many requests. Wait a moment and try again.",
  busy: "The server is busy. Try again in a moment.",
  unauthorized: "Your session has ended. Please log in again.",
  internal: "The server had a problem. Try again later.",
  unreadable_answer: "The server's answer could not be read.",
};

export class ApiError extends Error {
  constructor(status, code, message, retryAfterS = 0) {
    super(message);
    this.status = status;
    this.code = code;
    this.reason = PLAIN[code] ?? message ?? "Something went wrong.";
    // Sign-in throttling can last up to half an hour: say how long rather than "a moment".
    if (code === "too_many_attempts" && retryAfterS > 60) {
      this.reason = `Too many attempts. Try again in ${Math.ceil(retryAfterS / 60)} minutes.`;
    }
    // A busy server asks for more than a moment when it has opened its share of new accounts
    // for now (registration, docs/OPERATIONS.md "Request limits").
    if (code === "busy" && retryAfterS > 5) {
      this.reason = `The server is busy. Try again in ${waitText(retryAfterS)}.`;
    }
  }
}

/** "40 seconds", "1 minute", "3 minutes". */
function waitText(seconds) {
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.ceil(seconds / 60);
  return minutes === 1 ? "1 minute" : `${minutes} minutes`;
}

/** The event dispatched on `globalThis` whenever the server answers a request. */
export const SERVER_ANSWERED = "offpay-server-answered";

/** A new Idempotency-Key (8-128 chars of A-Za-z0-9-_). */
export function newIdempotencyKey() {
  return crypto.randomUUID();
}

/**
 * Calls the API; returns the parsed JSON body (null for 204). A 2xx whose body cannot be read (cut
 * off, or another server's page on the way) throws ApiError `unreadable_answer` with that 2xx
 * status: the server may have done the request, so it is no answer and no refusal (an intent
 * stays pending, ./intents.js).
 */
export async function call(method, path, { body, token, idempotencyKey } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
  } catch {
    throw new ApiError(0, "network", "network error");
  }
  // The server answered (whatever the status): main.js clears the "Offline" indicator.
  globalThis.dispatchEvent?.(new Event(SERVER_ANSWERED));
  if (res.status === 204) return null;
  let data = null;
  let readable = true;
  try { data = await res.json(); } catch { readable = false; }
  if (!res.ok) {
    const err = data?.error ?? {};
    const retryAfterS = Number(res.headers.get("Retry-After")) || 0;
    throw new ApiError(res.status, err.code ?? "internal", err.message ?? `HTTP ${res.status}`, retryAfterS);
  }
  if (!readable) throw new ApiError(res.status, "unreadable_answer", `HTTP ${res.status} with a body that is not JSON`);
  return data;
}

export const api = {
  config: () => call("GET", "/v1/config"),
  register: (handle, password) => call("POST", "/v1/register", { body: { handle, password } }),
  login: (handle, password, deviceToken) =>
    call("POST", "/v1/login", { body: deviceToken ? { handle, password, device_token: deviceToken } : { handle, password } }),
  logout: (token) => call("POST", "/v1/logout", { token }),
  logoutAll: (token) => call("POST", "/v1/logout-all", { token, body: {} }),
  changePassword: (token, current, next) =>
    call("POST", "/v1/password", { token, body: { current_password: current, new_password: next } }),
  me: (token) => call("GET", "/v1/me", { token }),
  // toAccount: the account `to` must be (a shop card's account), else 422 payee_mismatch and nothing moves.
  // card: the shop card paid at a counter (its nonce prefix, hex): the receipt is bound to it and
  // only that counter announces the payment.
  transfer: (token, idempotencyKey, to, amount, memo, toAccount, card) =>
    call("POST", "/v1/transfers", {
      token, idempotencyKey,
      body: { to, amount, ...(memo ? { memo } : {}), ...(toAccount !== undefined ? { to_account: toAccount } : {}), ...(card ? { card } : {}) },
    }),
  // card: the paid shop card's nonce prefix (8 hex digits); the first card named stays bound to the payment.
  receipt: (token, entryId, card) =>
    call("GET", `/v1/receipts/${encodeURIComponent(entryId)}?${new URLSearchParams(card ? { card } : {})}`, { token }),
  history: (token, { before, limit = 50 } = {}) =>
    call("GET", `/v1/history?limit=${limit}${before ? `&before=${before}` : ""}`, { token }),
};
