// Making a purse close statement (docs/PROTOCOL.md 4.4) from the payer device's purse state, as
// the protocol crate's `PurseState::close` does: the state and the signing key must belong to the
// certificate; the statement counts every note signed so far (last seq, its hash, the total).

import { signObject } from "./objects.js";
import { equalBytes } from "./crypto.js";

/** A purse state or device key that does not belong to the certificate (PayError). */
export class CloseError extends Error {
  constructor(code, message) { super(message); this.code = code; }
}

/**
 * Signs the close statement of `certificate`'s purse.
 * `state` = {purseId: Uint8Array(16), lastSeq: Number, lastHash: Uint8Array(32), spent: Number}
 * (lastHash is the certificate hash while lastSeq is 0), `devicePublicKey` the signer's public
 * key, `now` Unix seconds (BigInt, informational), `sign(bytes) -> Promise<Uint8Array(64)>`.
 */
export async function closeStatement(certificate, state, devicePublicKey, now, sign) {
  if (!equalBytes(state.purseId, certificate.purseId)) throw new CloseError("state_mismatch", "the purse state belongs to another purse");
  if (!equalBytes(devicePublicKey, certificate.deviceKey)) throw new CloseError("wrong_device_key", "the device key is not the certificate's");
  return signObject("close", {
    purseId: certificate.purseId, lastSeq: state.lastSeq, lastHash: state.lastHash, totalSpent: state.spent, time: now,
  }, sign);
}
