#!/usr/bin/env python3
# What the fraud-proof read of each upload costs on a `fraud_proofs` table of N rows (the
# ledger's SQLite schema), without and with the index `fraud_proofs_by_purse` (schema 11).
# Python's own sqlite3 module, a temporary file; docs/PERFORMANCE.md, "Fraud proofs found by purse".
#
#   scripts/bench-proofs-read.py [N]   (default 100000)
import os, shutil, sqlite3, sys, tempfile, time
n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
d = tempfile.mkdtemp()
c = sqlite3.connect(os.path.join(d, "p.db"))
c.executescript("""CREATE TABLE fraud_proofs (id INTEGER PRIMARY KEY, fingerprint BLOB NOT NULL UNIQUE,
  purse_id BLOB NOT NULL, user_id INTEGER NOT NULL, kind TEXT NOT NULL, first BLOB NOT NULL,
  second BLOB NOT NULL, created_at_ms INTEGER NOT NULL);""")
rows = ((os.urandom(32), (i // 1000).to_bytes(16, "big"), 1, "same_sequence", os.urandom(300), os.urandom(300), 0) for i in range(n))
c.executemany("INSERT INTO fraud_proofs (fingerprint, purse_id, user_id, kind, first, second, created_at_ms) VALUES (?,?,?,?,?,?,?)", rows)
c.commit()
q = "SELECT fingerprint FROM fraud_proofs WHERE purse_id = ?"
for label in ("no index", "index fraud_proofs_by_purse"):
    if label != "no index":
        c.execute("CREATE INDEX fraud_proofs_by_purse ON fraud_proofs (purse_id)")
    key = (10**9).to_bytes(16, "big")  # a purse with no proofs, as every honest upload's
    t = time.perf_counter(); k = 50
    for _ in range(k):
        c.execute(q, (key,)).fetchall()
    print(f"{n} proofs, {label}: {(time.perf_counter() - t) / k * 1000:.3f} ms per read")
c.close()
shutil.rmtree(d)
