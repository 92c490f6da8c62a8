// The web wallet reads the same contract as the server: loads the OpenAPI document from a real
// `offpay serve` (GET /v1/openapi.json, generated from crates/api) and checks that every request
// the web wallet makes (method + path) is a documented operation whose request schema has every
// field the web wallet puts in the body, that every live-event kind it
// handles is a kind the document's Event schema allows, that every payload field it reads from an
// event is one the document's payload schemas give, and that every error code it explains to
// the person is one the document's ErrorCode lists. The lists are written out below; the test
// also reads the web wallet's sources, so a new request, event kind or error code that is not in
// the lists fails here until it is added (and so checked against the document).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { startOffpay, REPO } from "./harness.js";

const JS = join(REPO, "web/public/js");

/** Every request of the web wallet: js/api.js, js/offline/client.js and the live socket (js/live.js). */
const REQUESTS = [
  ["GET", "/v1/config"],
  ["POST", "/v1/register"],
  ["POST", "/v1/login"],
  ["POST", "/v1/logout"],
  ["POST", "/v1/logout-all"],
  ["POST", "/v1/password"],
  ["GET", "/v1/me"],
  ["POST", "/v1/transfers"],
  ["GET", "/v1/history"],
  ["GET", "/v1/ws"],
  ["GET", "/v1/issuer-keys"],
  ["GET", "/v1/revocations"],
  ["POST", "/v1/devices"],
  ["POST", "/v1/purses"],
  ["GET", "/v1/purses"],
  ["POST", "/v1/purses/{purse_id}/close"],
  ["GET", "/v1/receipts/{entry_id}"],
  ["POST", "/v1/notes"],
  ["POST", "/v1/notes/refusals"],
];

/** Every live-event kind the web wallet handles (js/main.js, onEvent). */
const EVENT_KINDS = ["money_in", "deposit", "offline_in", "offline_out", "purse_returned", "account_frozen"];

function jsFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? jsFiles(path) : name.endsWith(".js") ? [path] : [];
  });
}

const SOURCES = jsFiles(JS).map((path) => ({ path, text: readFileSync(path, "utf8") }));

/** A request path as written in the source, as a document path: query dropped, `${…}` segments named. */
function templatePath(written) {
  return written.split("?")[0].replace(/\$\{[^}]*\}/g, "{}");
}

/** Whether a path with `{}` holes (from the source) matches a document path with `{name}` parameters. */
function samePath(source, documented) {
  return source === documented.replace(/\{[^}]+\}/g, "{}");
}

/** Every `call("METHOD", "/v1/…")` and `new URL("/v1/…")` (a WebSocket: GET) in the web wallet's sources. */
function requestsInSources() {
  const found = [];
  for (const { path, text } of SOURCES) {
    for (const m of text.matchAll(/call\(\s*"([A-Z]+)",\s*["`](\/v1\/[^"`]*)["`]/g)) found.push([m[1], templatePath(m[2]), path]);
    for (const m of text.matchAll(/new URL\(\s*"(\/v1\/[^"]*)"/g)) found.push(["GET", templatePath(m[1]), path]);
  }
  return found;
}

let srv;
let doc;

before(async () => {
  srv = await startOffpay();
  const answer = await fetch(`${srv.url}/v1/openapi.json`);
  assert.equal(answer.status, 200);
  doc = await answer.json();
});

after(async () => {
  await srv?.stop();
});

test("the document is OpenAPI 3.1 from the server", () => {
  assert.match(doc.openapi, /^3\.1\./);
  assert.equal(doc.info.title, "offpay API");
});

test("every request the web wallet makes is a documented operation", () => {
  const documented = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((m) => [m.toUpperCase(), path]));
  for (const [method, path] of REQUESTS) {
    assert.ok(documented.some(([m, p]) => m === method && p === path), `${method} ${path} is not in the OpenAPI document`);
  }
  // The list above is complete: every request written in the sources is in it.
  const inSources = requestsInSources();
  assert.ok(inSources.length >= REQUESTS.length, `found only ${inSources.length} requests in the sources`);
  for (const [method, path, file] of inSources) {
    assert.ok(REQUESTS.some(([m, p]) => m === method && samePath(path, p)), `${method} ${path} (${file}) is missing from REQUESTS`);
  }
  for (const [method, path] of REQUESTS) {
    assert.ok(inSources.some(([m, p]) => m === method && samePath(p, path)), `${method} ${path} is listed but the web wallet no longer makes it`);
  }
});

test("every event kind the web wallet handles is one the document's Event allows", () => {
  const body = doc.components.schemas.EventBody;
  assert.ok(Array.isArray(body.oneOf), "EventBody is a closed list of kinds");
  const allowed = body.oneOf.flatMap((variant) => variant.properties.kind.enum);
  assert.ok(allowed.length >= EVENT_KINDS.length, JSON.stringify(allowed));
  for (const kind of EVENT_KINDS) assert.ok(allowed.includes(kind), `event kind ${kind} is not in the document`);
  // The event itself is Event = EventBody + seq and created_at_ms.
  assert.ok(doc.components.schemas.Event.allOf.some((s) => s.$ref === "#/components/schemas/EventBody"));
  // The list above is complete: every `ev.kind === "…"` in the sources is in it.
  const handled = new Set(SOURCES.flatMap(({ text }) => [...text.matchAll(/ev\.kind === "([a-z_]+)"/g)].map((m) => m[1])));
  assert.deepEqual([...handled].sort(), [...EVENT_KINDS].sort());
});

test("every server error code the web wallet explains is in the document's ErrorCode", () => {
  const codes = doc.components.schemas.ErrorCode.enum;
  const api = readFileSync(join(JS, "api.js"), "utf8");
  const table = api.slice(api.indexOf("const PLAIN = {"), api.indexOf("};", api.indexOf("const PLAIN = {")));
  // Codes api.js makes itself, which the server never sends: no answer, and a 2xx it could not read.
  const clientOnly = ["network", "unreadable_answer"];
  const explained = [...table.matchAll(/^\s+([a-z_]+):/gm)].map((m) => m[1]).filter((code) => !clientOnly.includes(code));
  assert.ok(explained.length >= 10, `read only ${explained.length} codes from js/api.js`);
  for (const code of explained) assert.ok(codes.includes(code), `error code ${code} is not in the document`);
});

/** A schema with its `$ref` (to `#/components/schemas/…`) followed. */
function resolve(schema) {
  const ref = schema?.$ref;
  return ref ? doc.components.schemas[ref.split("/").pop()] : schema;
}

test("every event payload field the web wallet reads is one the document gives", () => {
  const main = readFileSync(join(JS, "main.js"), "utf8");
  const start = main.indexOf("onEvent: (ev) => {");
  const end = main.indexOf("function updateNet()");
  assert.ok(start > 0 && end > start, "the event handler of js/main.js was not found");
  const handler = main.slice(start, end);
  const payloadFields = new Set([...handler.matchAll(/\bp\.([a-z_]+)/g)].map((m) => m[1]));
  const noteFields = new Set([...handler.matchAll(/\b(?:n\?|notes\[0\])\.([a-z_]+)/g)].map((m) => m[1]));
  assert.ok(payloadFields.size >= 5 && noteFields.size >= 3, `read only ${[...payloadFields]} and ${[...noteFields]}`);
  const payloads = doc.components.schemas.EventBody.oneOf.map((variant) => resolve(variant.properties.payload));
  const documented = new Set(payloads.flatMap((schema) => Object.keys(schema?.properties ?? {})));
  for (const field of payloadFields) assert.ok(documented.has(field), `payload field ${field} is in no event of the document`);
  const note = resolve({ $ref: "#/components/schemas/OfflineEventNote" });
  for (const field of noteFields) assert.ok(field in note.properties, `note field ${field} is not in OfflineEventNote`);
  // What a received payment's notice and the shop's announcement read is in the money_in payload.
  const moneyIn = resolve(doc.components.schemas.EventBody.oneOf.find((v) => v.properties.kind.enum.includes("money_in")).properties.payload);
  for (const field of ["amount", "from", "entry_id", "balance"]) assert.ok(field in moneyIn.properties, `money_in has no ${field}`);
});

/** The text of the balanced `{…}` that starts at `open` in `text`. */
function braced(text, open) {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === "{") depth++;
    else if (text[i] === "}" && --depth === 0) return text.slice(open, i + 1);
  }
  return "";
}

test("every field the web wallet puts in a request body is one the document's request schema has", () => {
  let checked = 0;
  for (const { path: file, text } of SOURCES) {
    for (const m of text.matchAll(/call\(\s*"(POST|PUT|PATCH)",\s*["`](\/v1\/[^"`]*)["`],\s*\{/g)) {
      const options = braced(text, m.index + m[0].length - 1);
      const at = options.indexOf("body:");
      if (at < 0) continue;
      const body = options.slice(at + "body:".length);
      // Keys written `key: value` and shorthand `{ key }` / `, key,` (snake_case names only:
      // the wire's; camelCase words are the wallet's own variables).
      const keys = new Set([
        ...[...body.matchAll(/([a-z_]+)\s*:/g)].map((k) => k[1]),
        ...[...body.matchAll(/[{,]\s*([a-z_]+)\s*(?=[,}])/g)].map((k) => k[1]),
      ]);
      if (keys.size === 0) continue; // an empty body (`logout-all` sends `{}`)
      const path = Object.keys(doc.paths).find((p) => samePath(templatePath(m[2]), p));
      assert.ok(path, `${m[2]} (${file}) is not a documented path`);
      const schema = resolve(doc.paths[path][m[1].toLowerCase()].requestBody?.content?.["application/json"]?.schema);
      assert.ok(schema?.properties, `${m[1]} ${path} documents no JSON body`);
      for (const key of keys) {
        assert.ok(key in schema.properties, `${m[1]} ${path} (${file}) sends "${key}", which its request schema does not have`);
      }
      checked++;
    }
  }
  assert.ok(checked >= 8, `checked only ${checked} request bodies`);
});
