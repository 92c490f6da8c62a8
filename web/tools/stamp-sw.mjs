// Computes the app-shell asset list and a content version for public/sw.js, and writes them
// between its GENERATED markers. Used by scripts/web-vendor and checked by test/shell.test.js.
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join, relative, sep } from "node:path";

function walk(dir) {
  return readdirSync(dir).sort().flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

/** Returns {version, assets, integrity, block} for the folder `pub` (web/public). */
export function computeShell(pub) {
  const files = walk(pub).map((p) => relative(pub, p).split(sep).join("/")).filter((f) => f !== "sw.js");
  const hash = createHash("sha256");
  for (const f of files) {
    hash.update(f + "\0");
    hash.update(readFileSync(join(pub, f)));
  }
  const version = hash.digest("hex").slice(0, 16);
  // index.html is cached as "/" (the worker answers every navigation with it).
  const assets = ["/", ...files.filter((f) => f !== "index.html").map((f) => `/${f}`)];
  // Subresource-integrity of each file ("/" is index.html): the worker refuses a copy from
  // another version.
  const sri = (f) => `sha256-${createHash("sha256").update(readFileSync(join(pub, f))).digest("base64")}`;
  const integrity = Object.fromEntries(assets.map((a) => [a, sri(a === "/" ? "index.html" : a.slice(1))]));
  const block = `// BEGIN GENERATED\nconst VERSION = ${JSON.stringify(version)};\nconst ASSETS = ${JSON.stringify(integrity, null, 2)};\n// END GENERATED`;
  return { version, assets, integrity, block };
}

export function stamp(pub) {
  const swPath = join(pub, "sw.js");
  const sw = readFileSync(swPath, "utf8");
  const { block } = computeShell(pub);
  const next = sw.replace(/\/\/ BEGIN GENERATED[\s\S]*?\/\/ END GENERATED/, block);
  if (next !== sw) writeFileSync(swPath, next);
  return next !== sw;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(stamp(process.argv[2]) ? "sw.js stamped" : "sw.js up to date");
}
