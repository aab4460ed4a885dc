// Draws the app icons (three sails on a rounded navy square) as PNGs with no image library:
// node web/scripts/make-icons.mjs writes web/public/icons/icon-{192,512}.png.
import { deflateSync } from 'node:zlib';
import { writeFileSync, mkdirSync } from 'node:fs';

const BG = [15, 76, 129];
const FG = [255, 255, 255];
const ACCENT = [255, 196, 61];

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** Triangle test in unit coordinates. */
function inTriangle(x, y, [ax, ay], [bx, by], [cx, cy]) {
  const d1 = (x - bx) * (ay - by) - (ax - bx) * (y - by);
  const d2 = (x - cx) * (by - cy) - (bx - cx) * (y - cy);
  const d3 = (x - ax) * (cy - ay) - (cx - ax) * (y - ay);
  return !((d1 < 0 || d2 < 0 || d3 < 0) && (d1 > 0 || d2 > 0 || d3 > 0));
}

/** Colour of the unit-square point (x, y), or undefined outside the rounded square. */
function shade(x, y) {
  const r = 0.18;
  const cx = Math.min(Math.max(x, r), 1 - r);
  const cy = Math.min(Math.max(y, r), 1 - r);
  if ((x - cx) ** 2 + (y - cy) ** 2 > r * r) return undefined;
  const sails = [
    [
      [0.22, 0.62],
      [0.36, 0.3],
      [0.36, 0.62],
    ],
    [
      [0.4, 0.62],
      [0.56, 0.22],
      [0.56, 0.62],
    ],
    [
      [0.6, 0.62],
      [0.74, 0.34],
      [0.74, 0.62],
    ],
  ];
  if (sails.some((s) => inTriangle(x, y, ...s))) return FG;
  if (y > 0.67 && y < 0.74 && x > 0.18 && x < 0.82) return ACCENT;
  return BG;
}

function icon(size) {
  const SS = 4;
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let py = 0; py < size; py++) {
    raw[py * (size * 4 + 1)] = 0;
    for (let px = 0; px < size; px++) {
      const sum = [0, 0, 0, 0];
      for (let sy = 0; sy < SS; sy++)
        for (let sx = 0; sx < SS; sx++) {
          const c = shade((px + (sx + 0.5) / SS) / size, (py + (sy + 0.5) / SS) / size);
          if (!c) continue;
          sum[0] += c[0];
          sum[1] += c[1];
          sum[2] += c[2];
          sum[3] += 255;
        }
      const n = sum[3] / 255;
      const o = py * (size * 4 + 1) + 1 + px * 4;
      raw[o] = n ? Math.round(sum[0] / n) : 0;
      raw[o + 1] = n ? Math.round(sum[1] / n) : 0;
      raw[o + 2] = n ? Math.round(sum[2] / n) : 0;
      raw[o + 3] = Math.round(sum[3] / (SS * SS));
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 6, 0, 0, 0], 8);
  const signature = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
  return Buffer.concat([signature, chunk('IHDR', header), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

const dir = new URL('../public/icons/', import.meta.url);
mkdirSync(dir, { recursive: true });
for (const size of [192, 512]) writeFileSync(new URL(`icon-${size}.png`, dir), icon(size));
console.log('wrote icon-192.png and icon-512.png');
