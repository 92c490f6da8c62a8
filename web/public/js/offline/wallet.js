// Offline wallet facts for the pages: offline balance and what is waiting to settle.

import { allFor } from "./db.js";

/** Sum of what is left in this user's active purses, in minor units. */
export async function offlineBalance(handle) {
  try {
    const purses = await allFor("purses", handle);
    return purses.filter((p) => p.status === "active").reduce((sum, p) => sum + (p.amount - p.spent), 0);
  } catch {
    return 0;
  }
}

/** Notes paid and accepted on this device that the server has not settled yet. */
export async function waiting(handle) {
  const [sent, received] = await Promise.all([allFor("sent", handle), allFor("received", handle)]);
  return {
    sent: sent.filter((n) => !n.settled).sort((a, b) => a.createdMs - b.createdMs),
    received: received.filter((n) => !n.settled).sort((a, b) => a.acceptedMs - b.acceptedMs),
    settledSent: sent.filter((n) => n.settled).length,
    settledReceived: received.filter((n) => n.settled).length,
  };
}
