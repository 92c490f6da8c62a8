// One payment per request, the payer's side (docs/WEB.md, "Paying"): this device never signs a
// second note for a payment request it already paid; the Pay screen shows the earlier note again.
// A request was paid when a note in the `sent` store carries its nonce; that note must also pay
// the request's payee account, amount and currency, else the request is refused (an honest payee
// makes a fresh random nonce for every request). Pure: no IndexedDB, no clock. Records stored
// before this rule carry no `nonce`; it is read from their note text.

import { fromText } from "../protocol/objects.js";
import { hex } from "../protocol/crypto.js";

/** Shown above a note shown again: `money` ("₹25.00") and `who` ("bob") as the request names them. */
export function alreadyPaid(money, who) {
  return `You already paid ${money} to ${who} for this request. Here is the same payment note again: nothing more was paid.`;
}

/** Said when a request reuses a paid request's nonce with another amount, payee or currency. */
export const REUSED_REQUEST = "This payment request looks like one you already paid, but asks for a different amount or payee. "
  + "A real new request would look different, so nothing was paid: ask the payee to make a new payment request.";

/** The request nonce (hex) a `sent` record paid: its `nonce`, else read from its note; null if unreadable. */
export function paidNonce(record) {
  if (typeof record.nonce === "string") return record.nonce;
  try {
    return hex(fromText("note", record.text).nonce);
  } catch {
    return null;
  }
}

/**
 * The earlier payment of the decoded request `req` among `sent` (this user's `sent` records):
 * null when there is none; {record, note, same} otherwise, the oldest such record first, with
 * `same` true when its note pays exactly this request (payee, amount, currency).
 */
export function findPaid(sent, req) {
  const nonce = hex(req.nonce);
  const record = sent.filter((r) => paidNonce(r) === nonce).sort((a, b) => a.createdMs - b.createdMs)[0];
  if (!record) return null;
  const note = fromText("note", record.text);
  const same = note.payee === req.payee && note.amount === req.amount && note.certificate.currency === req.currency;
  return { record, note, same };
}
