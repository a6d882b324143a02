import { inflateSync } from 'node:zlib';
import { pdfkit } from './pdfkit.ts';
import { fieldError } from '../domain/errors.ts';
import { sniffImage } from '../domain/file-types.ts';

/** The largest logo taken, decoded (the column's check says the same). */
export const LOGO_MAX_BYTES = 1024 * 1024;
/** A logo is printed a few centimetres wide: more pixels than this is a mistake (or a decompression bomb). */
const LOGO_MAX_PIXELS = 4096 * 4096;

export interface Logo {
  bytes: Buffer;
  contentType: 'image/png' | 'image/jpeg';
}

interface PngInfo {
  width: number;
  height: number;
  bits: number;
  colors: number;
  hasAlphaChannel: boolean;
  interlaceMethod: number;
  imgData: Uint8Array | number[];
}

/**
 * pdfkit decodes a PNG with transparency in a callback where a corrupt image throws outside any
 * promise (and would stop the process): so the pixel data is checked here, synchronously, the way
 * that callback reads it: it inflates, and each row starts with a filter type 0..4.
 */
function checkPngPixels(png: PngInfo, field: string): void {
  if (png.interlaceMethod !== 0) throw fieldError(field, 'an interlaced PNG is not supported', 'LOGO_INVALID');
  const bytesPerPixel = (png.bits * (png.colors + (png.hasAlphaChannel ? 1 : 0))) / 8;
  const rowBytes = Math.ceil(png.width * bytesPerPixel) + 1;
  let pixels: Buffer;
  try {
    pixels = inflateSync(Buffer.from(png.imgData), { maxOutputLength: rowBytes * png.height + 1024 });
  } catch {
    throw fieldError(field, 'the PNG image data is corrupt', 'LOGO_INVALID');
  }
  if (pixels.length < rowBytes * png.height) throw fieldError(field, 'the PNG image data is truncated', 'LOGO_INVALID');
  for (let row = 0; row < png.height; row++) {
    if (pixels[row * rowBytes]! > 4) throw fieldError(field, 'the PNG image data is corrupt', 'LOGO_INVALID');
  }
}

/**
 * The logo from its base64 text: PNG or JPEG by content (not by what the caller says), at most
 * 1 MB, and readable by the PDF library, so a saved logo can always be drawn.
 */
export function parseLogo(base64: string, field = 'branding.logo'): Logo {
  const text = base64.replace(/^data:image\/(?:png|jpeg);base64,/, '').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0 || text.length === 0) {
    throw fieldError(field, 'must be a PNG or JPEG image as base64', 'LOGO_INVALID');
  }
  // 4 base64 characters per 3 bytes: refuse before decoding what is plainly too large.
  if ((text.length / 4) * 3 > LOGO_MAX_BYTES + 2) {
    throw fieldError(field, `is larger than ${LOGO_MAX_BYTES} bytes`, 'LOGO_INVALID');
  }
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length > LOGO_MAX_BYTES) throw fieldError(field, `is larger than ${LOGO_MAX_BYTES} bytes`, 'LOGO_INVALID');
  const type = sniffImage(bytes);
  if (!type) throw fieldError(field, 'is neither a PNG nor a JPEG image (judged by its content)', 'LOGO_INVALID');
  let image: { width: number; height: number; image?: PngInfo };
  try {
    // openImage parses the image as drawing it would (pdfkit's typings leave it out).
    const PDFDocument = pdfkit();
    const doc = new PDFDocument({ autoFirstPage: false }) as unknown as { openImage(src: Buffer): typeof image };
    image = doc.openImage(bytes);
  } catch {
    throw fieldError(field, `is not a readable ${type.toUpperCase()} image`, 'LOGO_INVALID');
  }
  if (!(image.width > 0 && image.height > 0) || image.width * image.height > LOGO_MAX_PIXELS) {
    throw fieldError(field, 'must be at most 4096 × 4096 pixels', 'LOGO_INVALID');
  }
  if (type === 'png' && image.image) checkPngPixels(image.image, field);
  return { bytes, contentType: type === 'png' ? 'image/png' : 'image/jpeg' };
}
