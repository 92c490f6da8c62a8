// The page's first script: registers the service worker and, on the first visit, lets it cache
// the app shell and take control before the app's modules load, so each file is downloaded once
// (by the worker) and the very first page already runs from the offline copy. Later visits are
// controlled from the start and load at once. Without a service worker the app loads directly.

/** Resolves once this page is controlled by the worker, or when it cannot be. */
async function controlled() {
  if (!("serviceWorker" in navigator)) return;
  let reg;
  try {
    reg = await navigator.serviceWorker.register("/sw.js");
  } catch (e) {
    console.warn("service worker not registered", e);
    return;
  }
  if (navigator.serviceWorker.controller) return;
  const worker = reg.installing ?? reg.waiting;
  // Active but not in control (a forced reload): it will not claim this page; load directly.
  if (!worker) return;
  await new Promise((resolve) => {
    navigator.serviceWorker.addEventListener("controllerchange", resolve, { once: true });
    worker.addEventListener("statechange", () => { if (worker.state === "redundant") resolve(); });
  });
}

await controlled();
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.ready.then(() => { document.documentElement.dataset.sw = "ready"; });
}
await import("./main.js");
