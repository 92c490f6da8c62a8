// Plain-words sentences for the reason codes the server gives when it refuses an uploaded payment
// note (`POST /v1/notes`, docs/API-OFFLINE.md "Note results"), shown on Sync status. Pure: no DOM.

/** One sentence per code the server sends for a `rejected` or `fraud` note result. */
export const SERVER_REASONS = {
  settlement_deadline_passed: "The payment was uploaded after the purse's settlement deadline and the payer's balance could not cover it.",
  bad_device_signature: "The payer device's signature is not valid: the note was changed or forged.",
  unknown_purse: "The server does not know the purse this payment was made from.",
  unknown_payee: "The account this payment is made out to does not exist on this server.",
  over_purse_amount: "The payer's purse does not hold enough for this payment.",
  over_payment_cap: "The amount is over the purse's limit per payment.",
  over_note_limit: "The payer's purse had already made all the payments one purse may make.",
  payee_must_upload: "The payer's purse was blocked for double spending: now the payee's own app must send this payment to the server.",
  wrong_purse: "The note carries a purse certificate other than the one the server issued.",
  bad_chain_start: "The first note of the purse does not start from its certificate.",
  revoked: "The payer's purse or device has been blocked.",
  malformed: "The payment note is damaged or is not an offpay payment note.",
  same_sequence: "The payer's device signed two different payments with the same number (double spending).",
  broken_chain: "The payment does not follow on from the payer's earlier payments (double spending).",
  beyond_close: "The payment was made after the payer closed the purse (double spending).",
  inconsistent_with_earlier_note: "Your account was already paid a different payment with the same number from this purse (double spending).",
  request_already_paid: "This payment request was already paid with another payment note.",
  loss_allowance_exhausted: "The payer spent this purse twice. Your payment is kept and will be paid when money is recovered from the payer.",
  payee_balance_full: "Your balance is at the most an account can hold, so this payment cannot be added to it yet.",
  refused_by_payee: "The shop refused this payment at its counter, so it is not paid to the shop: the money comes back to your balance with the rest of the purse.",
};

/**
 * Refusals a later upload of the same note may turn into a payment: `settlement_deadline_passed`
 * is paid once the payer's balance covers the note (docs/OFFLINE.md, "Expiry"), and
 * `payee_balance_full` once the payee's wallet has room for it. The app sends
 * such notes again at each sync; every other refusal is final. The same list as the wallet
 * crate's (`REFUSALS_JUDGED_AGAIN` in crates/api/src/offline.rs).
 */
export const REFUSALS_JUDGED_AGAIN = Object.freeze(["settlement_deadline_passed", "payee_balance_full"]);

/** Whether a refusal with `code` is judged again at a later upload (the note is sent again). */
export function judgedAgain(code) {
  return REFUSALS_JUDGED_AGAIN.includes(code);
}

/** Whether a stored note waits for an upload: not settled, and not refused for good. */
export function awaitsUpload(note) {
  return !note.settled && (!note.rejected || judgedAgain(note.rejected));
}

/** What the app says after a refusal's sentence when the note is sent again. */
export const SENT_AGAIN = "It is uploaded again at each sync and paid as soon as it can be.";

/** What to say for a code the app does not know (a newer server). */
export const UNKNOWN_REASON = "The server refused this payment.";

/**
 * The sentence for `code` and the code itself (shown in small text, for support).
 * Never throws: any value, even a missing one, gives a sentence.
 */
export function serverRefusal(code) {
  const c = typeof code === "string" && code ? code : "rejected";
  const sentence = Object.hasOwn(SERVER_REASONS, c) ? SERVER_REASONS[c] : UNKNOWN_REASON;
  return { sentence, code: c };
}
