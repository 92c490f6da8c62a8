// Service worker: keeps the app shell (every file of the app) in a versioned cache so the wallet
// opens and works with no connection. API calls (/v1/...) always go to the network.
// The asset list and version below are written by scripts/web-vendor (web/tools/stamp-sw.mjs).

// BEGIN GENERATED
const VERSION = "6737e3110a254e34";
const ASSETS = [
  "/",
  "/app.css",
  "/icons/icon-192.png",
  "/icons/icon-512.png",
  "/icons/icon.svg",
  "/index.html",
  "/js/api.js",
  "/js/live.js",
  "/js/main.js",
  "/js/money.js",
  "/js/offline/client.js",
  "/js/offline/db.js",
  "/js/offline/device.js",
  "/js/offline/sync.js",
  "/js/offline/wallet.js",
  "/js/pages/accept.js",
  "/js/pages/activity.js",
  "/js/pages/history.js",
  "/js/pages/home.js",
  "/js/pages/login.js",
  "/js/pages/offline-home.js",
  "/js/pages/offline-off.js",
  "/js/pages/pay.js",
  "/js/pages/purse.js",
  "/js/pages/receive.js",
  "/js/pages/result.js",
  "/js/pages/send.js",
  "/js/pages/sync.js",
  "/js/protocol/accept.js",
  "/js/protocol/base45.js",
  "/js/protocol/crypto.js",
  "/js/protocol/objects.js",
  "/js/protocol/wire.js",
  "/js/qr.js",
  "/js/session.js",
  "/js/ui.js",
  "/manifest.webmanifest",
  "/vendor/LICENSES.txt",
  "/vendor/jsQR.js",
  "/vendor/noble-ed25519.js",
  "/vendor/qrcode-generator.mjs"
];
// END GENERATED

const CACHE = `offpay-shell-${VERSION}`;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(ASSETS)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("offpay-shell-") && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin || url.pathname.startsWith("/v1/")) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const key = req.mode === "navigate" ? "/" : url.pathname;
    const hit = await cache.match(key);
    if (hit) return hit;
    return fetch(req);
  })());
});
