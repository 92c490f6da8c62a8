// Automatic settlement when the connection returns (filled in with the offline flow).

export async function autoSync() {}
