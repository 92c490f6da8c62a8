#!/usr/bin/env python3
# Login flood against a running `offpay serve`: 600 failed logins from 60 loopback source
# addresses (10 each, the per-address burst), 64 at once, for 50 handles; prints the answers'
# status codes and the server's resident memory before, at its peak during the flood, and 15 s
# after (docs/PERFORMANCE.md, "Login flood").
# Usage: scripts/login-flood.py PORT SERVER_PID
import http.client, json, sys, threading, time, concurrent.futures
port = int(sys.argv[1]); pid = int(sys.argv[2])
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"): return int(line.split()[1]) // 1024
peak = [0]; stop = [False]
def sample():
    while not stop[0]:
        peak[0] = max(peak[0], rss()); time.sleep(0.05)
def one(i):
    c = http.client.HTTPConnection("127.0.0.1", port, source_address=(f"127.0.0.{2 + i % 60}", 0), timeout=120)
    c.request("POST", "/v1/login", json.dumps({"handle": f"user{i % 50}", "password": "wrong password %d" % i}), {"Content-Type": "application/json"})
    r = c.getresponse(); r.read(); return r.status
before = rss()
t = threading.Thread(target=sample); t.start()
start = time.time()
with concurrent.futures.ThreadPoolExecutor(64) as ex:
    statuses = list(ex.map(one, range(600)))
took = time.time() - start
stop[0] = True; t.join()
time.sleep(15)
after = rss()
from collections import Counter
print(f"statuses {dict(Counter(statuses))}; {took:.1f} s; RSS before {before} MB, peak {peak[0]} MB, 15 s after {after} MB")
