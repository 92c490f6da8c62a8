// TEMPORARY, removable: serves web/public at / and forwards /v1 (HTTP and WebSocket) to a real
// offpay server, for as long as `offpay serve` does not serve the web wallet itself.
// harness.js uses it only when GET / on the offpay server does not return the app.
import { createServer, request as httpRequest } from "node:http";
import { connect } from "node:net";
import { readFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const PUBLIC = fileURLToPath(new URL("../public/", import.meta.url));
const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8", ".webmanifest": "application/manifest+json", ".json": "application/json",
  ".png": "image/png", ".svg": "image/svg+xml", ".txt": "text/plain; charset=utf-8",
};

/** Starts the proxy on a free port; resolves to {url, close}. */
export function startDevProxy(upstream) {
  const up = new URL(upstream);
  const server = createServer(async (req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    if (path.startsWith("/v1/")) {
      const fwd = httpRequest({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      });
      fwd.on("error", () => { res.writeHead(502); res.end(); });
      req.pipe(fwd);
      return;
    }
    const rel = normalize(path === "/" ? "index.html" : path.slice(1));
    if (rel.startsWith("..")) { res.writeHead(404); res.end(); return; }
    try {
      const body = await readFile(join(PUBLIC, rel));
      res.writeHead(200, {
        "Content-Type": TYPES[extname(rel)] ?? "application/octet-stream",
        "Cache-Control": rel === "sw.js" ? "no-cache" : "no-cache",
      });
      res.end(body);
    } catch {
      res.writeHead(404, { "Content-Type": "text/plain" });
      res.end("not found");
    }
  });
  server.on("upgrade", (req, socket, head) => {
    const target = connect(Number(up.port), up.hostname, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      target.write(lines.join("\r\n") + "\r\n\r\n");
      if (head?.length) target.write(head);
      target.pipe(socket);
      socket.pipe(target);
    });
    const end = () => { target.destroy(); socket.destroy(); };
    target.on("error", end);
    socket.on("error", end);
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      resolve({ url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) });
    });
  });
}
