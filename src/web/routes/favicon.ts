import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';

/** The icon's side in pixels: what browsers show in a tab, and scale down to 16 where they need it. */
const SIZE = 32;

/** The dashboard's blue (Pico's primary) and white, as blue, green, red, alpha. */
const BLUE = [0xad, 0x72, 0x01, 0xff];
const WHITE = [0xff, 0xff, 0xff, 0xff];
const CLEAR = [0, 0, 0, 0];

/**
 * The colour of pixel (x, y), y from the top: a blue square with rounded corners and a white "L"
 * (two links of a chain would not read at 16 px; the brand's initial does).
 */
function pixel(x: number, y: number): number[] {
  const r = 6;
  const cx = x < r ? r : x > SIZE - 1 - r ? SIZE - 1 - r : x;
  const cy = y < r ? r : y > SIZE - 1 - r ? SIZE - 1 - r : y;
  if ((x - cx) ** 2 + (y - cy) ** 2 > r * r) return CLEAR;
  const stem = x >= 10 && x <= 14 && y >= 7 && y <= 24;
  const foot = x >= 10 && x <= 22 && y >= 20 && y <= 24;
  return stem || foot ? WHITE : BLUE;
}

/**
 * The icon as an ICO file written here (no file to ship, nothing fetched): one 32 × 32 image of
 * 32-bit pixels, as ICO holds them (a BMP header of twice the height, rows bottom-up, then an AND
 * mask that the alpha channel makes redundant, all zeros).
 */
export function faviconIco(): Buffer {
  const pixels = SIZE * SIZE * 4;
  const mask = ((SIZE + 31) >> 5) * 4 * SIZE;
  const image = 40 + pixels + mask;
  const out = Buffer.alloc(6 + 16 + image);
  // ICONDIR: reserved, type 1 (icon), one image.
  out.writeUInt16LE(0, 0);
  out.writeUInt16LE(1, 2);
  out.writeUInt16LE(1, 4);
  // ICONDIRENTRY: width, height, no palette, reserved, planes, bits per pixel, size, offset.
  out.writeUInt8(SIZE, 6);
  out.writeUInt8(SIZE, 7);
  out.writeUInt16LE(1, 10);
  out.writeUInt16LE(32, 12);
  out.writeUInt32LE(image, 14);
  out.writeUInt32LE(22, 18);
  // BITMAPINFOHEADER: its size, width, height of image and mask, planes, bits, no compression.
  out.writeUInt32LE(40, 22);
  out.writeInt32LE(SIZE, 26);
  out.writeInt32LE(SIZE * 2, 30);
  out.writeUInt16LE(1, 34);
  out.writeUInt16LE(32, 36);
  out.writeUInt32LE(pixels + mask, 42);
  let at = 62;
  for (let row = SIZE - 1; row >= 0; row--) {
    for (let x = 0; x < SIZE; x++) {
      for (const byte of pixel(x, row)) out.writeUInt8(byte, at++);
    }
  }
  return out;
}

/**
 * GET /favicon.ico: what browsers ask for on a site's first page (and beside a PDF opened in a
 * tab). Answered with the icon, cached for a year, instead of a 404 in every console.
 */
export function registerFavicon(app: FastifyInstance): void {
  const body = faviconIco();
  const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 12)}"`;
  app.get('/favicon.ico', async (_request, reply) =>
    reply.header('cache-control', 'public, max-age=31536000').header('etag', etag).type('image/x-icon').send(body),
  );
}
