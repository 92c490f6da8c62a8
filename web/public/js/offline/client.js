// Client for the server's offline endpoints (docs/API-OFFLINE.md): issuer keys and revocations for
// offline checks, device registration, purse load and close, note upload for settlement, and
// notes refused at the shop's counter given back to their payers.

import { call } from "../api.js";

export const offlineApi = {
  issuerKeys: () => call("GET", "/v1/issuer-keys"),
  revocations: () => call("GET", "/v1/revocations"),
  registerDevice: (token, publicKeyHex) => call("POST", "/v1/devices", { token, body: { public_key: publicKeyHex } }),
  loadPurse: (token, idempotencyKey, amount, devicePublicKeyHex) =>
    call("POST", "/v1/purses", { token, idempotencyKey, body: { amount, device_public_key: devicePublicKeyHex } }),
  purses: (token) => call("GET", "/v1/purses", { token }),
  /** Close a purse with the device's signed close statement (`OPX1:` text); idempotent by key. */
  closePurse: (token, idempotencyKey, purseIdHex, closeText) =>
    call("POST", `/v1/purses/${encodeURIComponent(purseIdHex)}/close`, { token, idempotencyKey, body: { close: closeText } }),
  /** Upload payment notes (payer or payee); idempotent by note hash; at most 500 per call. */
  uploadNotes: (token, notes) => call("POST", "/v1/notes", { token, body: { notes } }),
  /**
   * Tell the server that this payee refused the note `noteText` at its counter: it never pays it,
   * or moves what it paid back to the payer, once; idempotent per note (counter-refusals.js).
   */
  refuseNote: (token, noteText) => call("POST", "/v1/notes/refusals", { token, body: { note: noteText } }),
};
