// QR codes: drawing (qrcode-generator, vendored) and camera scanning (jsQR, vendored, loaded on
// first use). Offline texts use only QR alphanumeric characters, so they fit the compact mode.

import qrcode from "../vendor/qrcode-generator.mjs";
import { h } from "./ui.js";

/** The QR code of `text` (qrcode-generator's object: getModuleCount, isDark) at error correction `level`. */
export function qrCode(text, level = "L") {
  const qr = qrcode(0, level);
  qr.addData(text, /^[0-9A-Z $%*+\-./:]*$/.test(text) ? "Alphanumeric" : "Byte");
  qr.make();
  return qr;
}

/** A QR code of `text` as an SVG inside a figure, labelled for screen readers. */
export function qrFigure(text, label, level = "L") {
  const qr = qrCode(text, level);
  const box = h("div", { class: "qr", role: "img", "aria-label": label });
  box.innerHTML = qr.createSvgTag({ cellSize: 4, margin: 4, scalable: true });
  return box;
}

let jsqrLoading = null;
function loadJsQR() {
  if (globalThis.jsQR) return Promise.resolve(globalThis.jsQR);
  jsqrLoading ??= new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = "/vendor/jsQR.js";
    s.onload = () => resolve(globalThis.jsQR);
    s.onerror = () => reject(new Error("QR scanner could not be loaded"));
    document.head.append(s);
  });
  return jsqrLoading;
}

export const canScan = () => Boolean(navigator.mediaDevices?.getUserMedia);

/**
 * A "Scan QR code" button that opens the camera and calls onText(text) with the first code read.
 * Returns {node, stop}.
 */
export function scanner(onText, onError) {
  const video = h("video", { playsinline: true, muted: true, hidden: true, "aria-label": "Camera view" });
  let stream = null;
  let timer = null;
  const stop = () => {
    clearTimeout(timer);
    stream?.getTracks().forEach((t) => t.stop());
    stream = null;
    video.hidden = true;
    button.textContent = "Scan QR code";
  };
  const button = h("button", { type: "button", class: "secondary", onclick: async () => {
    if (stream) { stop(); return; }
    try {
      const jsQR = await loadJsQR();
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
      video.srcObject = stream;
      video.hidden = false;
      await video.play();
      button.textContent = "Stop camera";
      const canvas = document.createElement("canvas");
      const ctx = canvas.getContext("2d", { willReadFrequently: true });
      const tick = () => {
        if (!stream) return;
        if (video.videoWidth) {
          canvas.width = video.videoWidth;
          canvas.height = video.videoHeight;
          ctx.drawImage(video, 0, 0);
          const img = ctx.getImageData(0, 0, canvas.width, canvas.height);
          const code = jsQR(img.data, img.width, img.height, { inversionAttempts: "dontInvert" });
          if (code?.data) { stop(); onText(code.data); return; }
        }
        timer = setTimeout(tick, 150);
      };
      tick();
    } catch (e) {
      stop();
      onError?.("The camera could not be used. Paste the text instead.");
    }
  } }, "Scan QR code");
  window.addEventListener("hashchange", stop, { once: true });
  return { node: h("div", { class: "scan" }, canScan() ? button : null, video), stop };
}

/** A "Copy" button for a read-only field. */
export function copyButton(input) {
  const b = h("button", { type: "button", class: "secondary", onclick: async () => {
    try { await navigator.clipboard.writeText(input.value); b.textContent = "Copied"; } catch {
      input.select(); b.textContent = "Select and copy";
    }
  } }, "Copy text");
  return b;
}

/**
 * A canvas with the QR code of `text` (level M, as printed cards use) and `caption` under it, in
 * black on white: what "Download PNG" saves.
 */
export function qrCanvas(text, caption, { cell = 10, margin = 4 } = {}) {
  const qr = qrCode(text, "M");
  const n = qr.getModuleCount();
  const side = (n + 2 * margin) * cell;
  const captionH = Math.round(cell * 6);
  const canvas = document.createElement("canvas");
  canvas.width = side;
  canvas.height = side + captionH;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = "#000";
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) if (qr.isDark(r, c)) ctx.fillRect((c + margin) * cell, (r + margin) * cell, cell, cell);
  }
  ctx.font = `bold ${Math.round(cell * 3)}px system-ui, sans-serif`;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.fillText(caption, side / 2, side + captionH / 2 - cell, side - 2 * cell);
  return canvas;
}
