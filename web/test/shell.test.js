// Checks the installable-app basics without a browser: the manifest, the icons, and that the
// service worker's app-shell list and version match the files (scripts/web-vendor stamps them).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { computeShell } from "../tools/stamp-sw.mjs";

const PUB = fileURLToPath(new URL("../public/", import.meta.url));

test("service worker lists every app file and a matching version (run scripts/web-vendor if this fails)", () => {
  const sw = readFileSync(`${PUB}/sw.js`, "utf8");
  const { block, assets } = computeShell(PUB);
  assert.ok(sw.includes(block), "sw.js GENERATED block is stale: run scripts/web-vendor");
  for (const a of ["/", "/js/main.js", "/js/start.js", "/app.css", "/manifest.webmanifest", "/vendor/jsQR.js"]) {
    assert.ok(assets.includes(a), a);
  }
});

test("web app manifest has what installation needs", () => {
  const m = JSON.parse(readFileSync(`${PUB}/manifest.webmanifest`, "utf8"));
  assert.equal(m.display, "standalone");
  assert.ok(m.name && m.short_name && m.start_url && m.scope);
  const sizes = m.icons.map((i) => i.sizes);
  assert.ok(sizes.includes("192x192") && sizes.includes("512x512"));
  for (const icon of m.icons) {
    const file = `${PUB}${icon.src}`;
    assert.ok(existsSync(file), icon.src);
    if (icon.type === "image/png") {
      const png = readFileSync(file);
      const [w, h] = [png.readUInt32BE(16), png.readUInt32BE(20)];
      assert.equal(`${w}x${h}`, icon.sizes);
    }
  }
});

test("index.html links the manifest, the stylesheet and the entry module", () => {
  const html = readFileSync(`${PUB}/index.html`, "utf8");
  assert.match(html, /rel="manifest" href="\/manifest.webmanifest"/);
  assert.match(html, /<script type="module" src="\/js\/start.js">/);
  assert.match(html, /name="viewport" content="width=device-width/);
});
