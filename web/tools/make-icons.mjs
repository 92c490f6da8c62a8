// Draws the app icons (a white ring on the brand green) as PNG files without any image library:
// raw RGBA rows, zlib deflate, CRC-32. Run by scripts/web-vendor; output is committed.
import { deflateSync } from "node:zlib";
import { writeFileSync } from "node:fs";

const CRC = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
function png(size) {
  const raw = Buffer.alloc(size * (size * 4 + 1));
  const c = size / 2, rOut = size * 0.30, rIn = size * 0.19, dot = size * 0.06;
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0;
    for (let x = 0; x < size; x++) {
      const d = Math.hypot(x + 0.5 - c, y + 0.5 - c);
      const ring = d <= rOut && d >= rIn;
      const spot = Math.hypot(x + 0.5 - (c + rOut * 0.95), y + 0.5 - (c - rOut * 0.95)) <= dot;
      const white = ring || spot;
      const i = y * (size * 4 + 1) + 1 + x * 4;
      raw[i] = white ? 255 : 0x0b; raw[i + 1] = white ? 255 : 0x5d; raw[i + 2] = white ? 255 : 0x4b; raw[i + 3] = 255;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0); ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; ihdr[9] = 6; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw, { level: 9 })), chunk("IEND", Buffer.alloc(0))]);
}
const out = process.argv[2];
for (const size of [192, 512]) writeFileSync(`${out}/icon-${size}.png`, png(size));
writeFileSync(`${out}/icon.svg`, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100"><rect width="100" height="100" rx="18" fill="#0b5d4b"/><circle cx="50" cy="50" r="24.5" fill="none" stroke="#fff" stroke-width="11"/><circle cx="78.5" cy="21.5" r="6" fill="#fff"/></svg>\n`);
