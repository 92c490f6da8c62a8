// Service worker: keeps the app shell (every file of the app) in a versioned cache so the wallet
// opens and works with no connection. API calls (/v1/...) always go to the network.
// The asset list and version below are written by scripts/web-vendor (web/tools/stamp-sw.mjs).

// BEGIN GENERATED
const VERSION = "e78d10c82f6435b4";
const ASSETS = {
  "/": "sha256-hIV25eE6TW70pS03Qs7bTWi5FA2BBLPuvVMN34xjHY4=",
  "/app.css": "sha256-ll7wCJljqU8bVcWkH7Qzw5cgqSSqB2xDkKiJprZxYnA=",
  "/icons/icon-192.png": "sha256-gT9LRu233qKbhm/Cg8jhxJU2yx0PvuFrXTd0yXU4gwA=",
  "/icons/icon-512.png": "sha256-hVjENhAQqIxuA+4AHfCS7O58bgGha+CDQqiz1o8EUEk=",
  "/icons/icon.svg": "sha256-UiaeFsNB9IZfs/q6ihmGhvseh0thBTWtVVMl3eVqNfY=",
  "/js/api.js": "sha256-6bUS9i5shGIMJFy75FXaIQJEcyM5eELwzb/6wG2gbRE=",
  "/js/intents.js": "sha256-r4itZNYMb6ZHtXvq08A15IEB1qURv6BEV/Qq3BKBrqc=",
  "/js/live.js": "sha256-q5DZJ4MARs9rxayJJfd+Na6pfxTFYhjHaCBakX/cYs4=",
  "/js/main.js": "sha256-VTF7SNgxC3w2IsTE6uPynDD4N4OhTjR7EmHv2eBU6fg=",
  "/js/money.js": "sha256-xVCCVROh6vOzH7Z13xY2j39z6aTx3naXm1n/kt30tR0=",
  "/js/offline/client.js": "sha256-1CydXqFbzUIg3wW2ir5F+0svTQSeLAmElR4n1i4Se/E=",
  "/js/offline/close.js": "sha256-gRYLzHI44uooDJaabM5BWcWGqHTJjvTIYUsTlLz7u9s=",
  "/js/offline/counter-refusals.js": "sha256-vyTrjGRGskBbJpNmdLNUYGFGdpgnZBaUU8Dc82yUXUI=",
  "/js/offline/db.js": "sha256-VPvG/nqriQZggcxxlOqKErwz93uN4EYa5wOHmkPXJkc=",
  "/js/offline/device.js": "sha256-nkiFNkSj2rMp7cmppqYP4gE+n6BeHIvOUkCP2GjxBsE=",
  "/js/offline/entries.js": "sha256-RTDNbqH6xnO/LZDBqMJ+loOyT0NXWi6X/k0YDmuOIhE=",
  "/js/offline/history.js": "sha256-SkkF69m90yVS3qgWOgZR9Vla3phHasG184ZU+caC0UA=",
  "/js/offline/paid-once.js": "sha256-3ZFdDsDYkw9x6+4xKLw1sVK6si9xFaXZdKlxpgD4X7Y=",
  "/js/offline/pin.js": "sha256-HE/vo5aRt3qi/3XchvdIsLRyv/xdgn+tm4K+FKs2t50=",
  "/js/offline/refusals.js": "sha256-PY/12Y6jnFLt63fa72UfWy8bnVrpvNuyGb9ebmxaN64=",
  "/js/offline/shop.js": "sha256-PReOKql3QK44zFl6EvTQCJFoKTHfrQEWUGHqBPCgGsI=",
  "/js/offline/sync.js": "sha256-e1ZuPPbpZtSAfvRX6Q3qUMBz/kHs9GFnZk38WdwRO38=",
  "/js/offline/takings.js": "sha256-D873WfUpeDrloHsZ90ygi8hKI2Q3e21sqlKGh4ScSlA=",
  "/js/offline/wallet.js": "sha256-Pka5ZxeJUU/T+9YyYWseq9LuwiSp1MHuqLHFzN7WtDE=",
  "/js/pages/accept.js": "sha256-RI9b4c1tLDMKkUjqXRrXBYFko4CNx+dm8JbkVwjGTmM=",
  "/js/pages/account.js": "sha256-Jr2EP7uRfYyrm4+ElVm3i/a4q1DX2TEfhujDeEfi854=",
  "/js/pages/activity.js": "sha256-0WtHVpxxyxN2QUk+Xzx4R1aXNWbjizfAhc5jmtXie1w=",
  "/js/pages/close.js": "sha256-i1vPuAKjBuYC28u8Xn694ouP+UX2j+GTvk0nxq7F/84=",
  "/js/pages/history.js": "sha256-Th5nm+pz8XslqSwPpzrxVKC9jW4J5pHWuhlidlMdRyE=",
  "/js/pages/home.js": "sha256-7OiFRs0VwbHdSkMm8WWXdCW3+z4NoWo87heRzU/W7G8=",
  "/js/pages/login.js": "sha256-6iMnD9pmNHpC9geGJwRDhxe6sB2NZgI/KedUqav7sL0=",
  "/js/pages/logout.js": "sha256-Qo+O/O/J2CoR0OhP0v7dxpDdTv8A9e673cK6K8G1RoM=",
  "/js/pages/needs-login.js": "sha256-0ms9OXQQ8scRCQ5jCggmQ6vrizCUMW6Cbzh4mP0mdwc=",
  "/js/pages/note.js": "sha256-r+cLieNQOeAMvSOXbCJrpe0QaftMx5cokGsEmJmr5kg=",
  "/js/pages/offline-home.js": "sha256-+zlfsQlH+eIh+I4Ix9PtIIUZ4rI/j3ZEmEoOdZWg+Qs=",
  "/js/pages/offline-off.js": "sha256-kHVgQ9Mz1NS5lm3PbNfsGgugPbP0Ksd6YPViDlB7LLY=",
  "/js/pages/pay-card.js": "sha256-+PYxdITLQGzd62GbeC9qKCmH5IYfd/e0EtpwvuNdOCA=",
  "/js/pages/pay.js": "sha256-LZuVKOG9tLCuDLQTobUJfbngYxZl1jdROiYEVzYe+KE=",
  "/js/pages/pin.js": "sha256-EOtQWRgW46uALELHV3LxFR1/vblQVeEtBQBUcMbWeBk=",
  "/js/pages/purse.js": "sha256-nwf2MgProavtIsU4714HypAOap65x36vHwkg7oFoSNI=",
  "/js/pages/receipt.js": "sha256-nfFU6mL+w0sjfCKrhbiBtjL2i29hhhZydCvW5yFkJE4=",
  "/js/pages/receive.js": "sha256-4IDVDaSCA+ivlL+yBcJ88v/iodgfenL8hsJoQDs4Z1g=",
  "/js/pages/result.js": "sha256-cPgrYcJHeVaJFjepnVyQX81F1G5SgyP11gprOz4alhk=",
  "/js/pages/send.js": "sha256-1pBo+efj5DNUPP0rEvgTeLDQ6+ep7WlSCnaJ1idGPyQ=",
  "/js/pages/shop-card.js": "sha256-zdOAr+oYrib+NHqZbhcPQ/JEeFEE1oJw1pEA5sm+N9Q=",
  "/js/pages/shop.js": "sha256-HIPYBmXffviyLiL/qJWOg1z/5Z2Nsz7sUfXZEh+UppM=",
  "/js/pages/sync.js": "sha256-9n2HDiy7uMK8LvM5nXXtzyY9QKMLf8EKm+CHCVB/CPw=",
  "/js/pages/unlock.js": "sha256-7b0sPjKynrQY8pPCT3C9BYRhHOZXesRz3grd48dEHYY=",
  "/js/protocol/accept.js": "sha256-DzBTVxC0FYx1xbMUdp/wshrDWjFrGlnqLHOYQJlksIw=",
  "/js/protocol/base45.js": "sha256-UiH+ff0uqrLBZgbjofXLYurSKhXC4QKY398J5hMOPks=",
  "/js/protocol/close.js": "sha256-0Z3orDk+9YxsBkEt3rZU9EycKZGgH0emO4XfpsACRmQ=",
  "/js/protocol/crypto.js": "sha256-8T4ruh9aFgY4XSnYHhxMEJY4n8jGx62vfoH2Gy+4LwQ=",
  "/js/protocol/objects.js": "sha256-amaM8ajp4tCptcdzTLPWw9/0Yq3hyrhzC40iz2A0AsI=",
  "/js/protocol/wire.js": "sha256-jicdl40PG6u2SmfQrr8tUZgxS0nfFNAL9QEFt4P/JqE=",
  "/js/qr.js": "sha256-1mSa99sm/RUZd72n5WhiBShAJ+449MfyBo6FnNIo86Q=",
  "/js/session.js": "sha256-ji649SFEnk/Jeqwb0iCPTAMp6F9e4kjdum/+5h7jeRo=",
  "/js/shop-feed.js": "sha256-GHcgGWW89kNGz2ZIlTHgbe6ZTNth1nfwkSQM2/CTLuI=",
  "/js/start.js": "sha256-oxKAQ0gm96v65vBDJIArOoC9f2DPVUgH4y3eSujlzUE=",
  "/js/ui.js": "sha256-vGk/ws1PMC7d6wLMwDOp95j9TVEEcEg1mpPwj+8+skE=",
  "/manifest.webmanifest": "sha256-jsQP0rj0OSX0NcwV4BSskfs1zcVZHWJfjD/ctky46vE=",
  "/vendor/LICENSES.txt": "sha256-3AKqKV8gTyIXYz7Cow6l9LK0E4GpTj8SqxdSQZf412o=",
  "/vendor/jsQR.js": "sha256-vEDIoVGWI2sjFNsIVvcsoLSZgM1UE7jIUqc0n1/uCFk=",
  "/vendor/noble-ed25519.js": "sha256-pPYx0YdrXZ5DqGzXEZTKJ7XhRR7fS6TbmkGPQKR1Vpo=",
  "/vendor/qrcode-generator.mjs": "sha256-6pHXEYpTlSiRcNqEi3xnWLmWFjv7zPMSWRq2WkkRt8A=",
  "/vendor/uPlot.esm.js": "sha256-XdmzKBqmS0YbQtmUX2rbJknTRlArEigamuDUZZmoDro=",
  "/vendor/uPlot.min.css": "sha256-32MMao1vjur/JktQ9zzlsRT2Rv/ZoLt08EmwoAE1+gQ="
};
// END GENERATED

const CACHE = `offpay-shell-${VERSION}`;

/**
 * Downloads one file of this version; its content must match the hash stamped above, so a server
 * already on another version fails the install (the browser retries on the next visit) instead
 * of leaving a shell mixed from two versions.
 */
async function fetchAsset(path, integrity) {
  const res = await fetch(new Request(path, { cache: "no-cache", integrity }));
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return res;
}

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    for (const [path, integrity] of Object.entries(ASSETS)) {
      await cache.put(path, await fetchAsset(path, integrity));
    }
    await self.skipWaiting();
  })());
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
