// End-to-end in Chromium against the real `offpay serve`: the payer scans the payee's QR code with
// the camera. Bob's page draws his payment request as a QR code; that picture becomes the video of
// Chromium's fake camera (a Y4M file) in Alice's browser, where "Scan QR code" reads it and the
// confirmation names Bob and the amount. The scanned text equals the shown text, spaces included.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  startServerAndBrowser, stopServerAndBrowser, confirmAndAccept, launchBrowser, loadPurse, phone, register, registerWithDeposit,
} from "../harness.js";

const W = 640;
const H = 480;

let srv;
let browser;
let camBrowser;
let tmp;
before(async () => {
  ({ srv, browser } = await startServerAndBrowser());
  tmp = mkdtempSync(join(tmpdir(), "offpay-cam-"));
});
after(async () => {
  await camBrowser?.close();
  await stopServerAndBrowser({ srv, browser });
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** The QR code on `page` (an SVG) drawn on a white WxH picture; returns its luma bytes. */
async function qrLuma(page) {
  const b64 = await page.evaluate(async ([w, h]) => {
    const svg = document.querySelector(".qr svg");
    const url = URL.createObjectURL(new Blob([new XMLSerializer().serializeToString(svg)], { type: "image/svg+xml" }));
    const img = new Image();
    img.src = url;
    await img.decode();
    const canvas = document.createElement("canvas");
    canvas.width = w;
    canvas.height = h;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, w, h);
    const size = Math.min(w, h) - 40;
    ctx.drawImage(img, (w - size) / 2, (h - size) / 2, size, size);
    URL.revokeObjectURL(url);
    const { data } = ctx.getImageData(0, 0, w, h);
    const y = new Uint8Array(w * h);
    for (let i = 0; i < y.length; i++) y[i] = Math.round(0.299 * data[4 * i] + 0.587 * data[4 * i + 1] + 0.114 * data[4 * i + 2]);
    let s = "";
    for (let i = 0; i < y.length; i += 0x8000) s += String.fromCharCode(...y.subarray(i, i + 0x8000));
    return btoa(s);
  }, [W, H]);
  return Buffer.from(b64, "base64");
}

/** A one-frame grey Y4M video (Chromium repeats it) of the luma picture. */
function y4m(luma) {
  const chroma = Buffer.alloc((W / 2) * (H / 2), 128);
  return Buffer.concat([Buffer.from(`YUV4MPEG2 W${W} H${H} F10:1 Ip A1:1 C420jpeg\nFRAME\n`), luma, chroma, chroma]);
}

test("pay: the payer's camera reads the payee's QR code, the same text as the one shown", async () => {
  const b = await phone(browser);
  await register(b.page, srv.url, "bob", "bob-secret-12");
  // Base45 text has a space in about 98.6% of requests (the nonce is random): ask again until one
  // does, so that the scan is always shown to keep the spaces.
  let requestText = "";
  for (let attempt = 0; attempt < 10 && !requestText.includes(" "); attempt++) {
    await b.page.goto(`${srv.url}/#/home`);
    await b.page.getByRole("link", { name: "Receive", exact: true }).click();
    await b.page.getByLabel("Amount").fill("42.50");
    await b.page.getByRole("button", { name: "Request payment" }).click();
    await b.page.getByRole("heading", { name: "Payment request" }).waitFor();
    requestText = await b.page.getByRole("textbox", { name: "Payment request" }).inputValue();
  }
  assert.ok(requestText.includes(" "), "the request text has spaces (base45)");
  const video = join(tmp, "qr.y4m");
  writeFileSync(video, y4m(await qrLuma(b.page)));

  camBrowser = await launchBrowser(["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    `--use-file-for-fake-video-capture=${video}`]);
  const a = await phone(camBrowser);
  await a.context.grantPermissions(["camera"], { origin: srv.url });
  await registerWithDeposit(a.page, srv, "alice", "alice-secret-1", "100.00");
  await loadPurse(a.page, "50.00");

  await a.page.goto(`${srv.url}/#/pay`);
  await a.page.getByRole("heading", { name: "Pay", exact: true }).waitFor();
  await a.page.getByRole("button", { name: "Scan QR code" }).click();
  const confirm = a.page.getByRole("group", { name: "Confirm payment" });
  await confirm.waitFor();
  assert.match(await confirm.textContent(), /Pay ₹42\.50 to bob/);
  // The request Alice signed against is Bob's exact text: the note carries its nonce and amount,
  // so Bob's phone accepts it.
  await confirmAndAccept(a.page, b.page);

  assert.deepEqual(a.errors, []);
  assert.deepEqual(b.errors, []);
  await a.context.close();
  await b.context.close();
});
