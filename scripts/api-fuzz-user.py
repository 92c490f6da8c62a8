"""Sets up the users scripts/api-fuzz fuzzes as: waits for the server, registers COUNT users,
gives each money with `offpay admin deposit`, and prints their session tokens, one per line.

Usage: api-fuzz-user.py BASE_URL OFFPAY_BIN DATA_DIR COUNT
"""

import json
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request


def request(method, url, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as answer:
        return answer.status, json.loads(answer.read() or b"null")


def main():
    base, binary, data, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    deadline = time.monotonic() + 60
    while True:
        try:
            request("GET", f"{base}/v1/health")
            break
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                sys.exit("scripts/api-fuzz: the server did not answer within 60 s")
            time.sleep(0.2)
    for _ in range(count):
        handle = "fuzz_" + secrets.token_hex(4)
        status, body = request("POST", f"{base}/v1/register", {"handle": handle, "password": secrets.token_hex(16)})
        if status != 201:
            sys.exit(f"scripts/api-fuzz: register answered {status}: {body}")
        subprocess.run([binary, "admin", "--data", data, "deposit", handle, "100000.00"], check=True,
                       stdout=subprocess.DEVNULL)
        print(body["token"])


main()
