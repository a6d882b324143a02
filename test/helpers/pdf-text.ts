import { inflateSync } from 'node:zlib';

// WinAnsiEncoding bytes 0x80–0x9F that are not Latin-1 (enough for what the invoices print).
const WIN_ANSI_HIGH: Record<number, string> = {
  0x80: '€',
  0x85: '…',
  0x91: '‘',
  0x92: '’',
  0x93: '“',
  0x94: '”',
  0x96: '–',
  0x97: '—',
};

function decodeHex(hex: string): string {
  let out = '';
  for (let i = 0; i + 1 < hex.length; i += 2) {
    const b = parseInt(hex.slice(i, i + 2), 16);
    out += WIN_ANSI_HIGH[b] ?? String.fromCharCode(b);
  }
  return out;
}

export interface PdfText {
  /** One entry per text object (pdfkit writes one per line of text), in drawing order, per page. */
  pages: string[][];
  /** Every line of every page. */
  lines: string[];
  text: string;
}

/**
 * A small text extractor for the PDFs pdfkit writes with its built-in fonts: inflate each content
 * stream, then read the hex strings of the TJ operators between BT and ET. Enough to assert on
 * what an invoice says, not a general PDF parser.
 */
export function extractPdfText(pdf: Buffer): PdfText {
  const src = pdf.toString('latin1');
  const pages: string[][] = [];
  // A content stream's dictionary has no nested dictionary.
  const streamRe = /<<((?:(?!<<)[^])*?)>>\s*stream\r?\n/g;
  let m: RegExpExecArray | null;
  while ((m = streamRe.exec(src))) {
    const dict = m[1]!;
    const length = /\/Length (\d+)/.exec(dict);
    if (!length) continue;
    // An image (a logo) is no text, whatever its bytes happen to spell.
    if (/\/Subtype \/Image/.test(dict)) continue;
    const start = m.index + m[0].length;
    const raw = pdf.subarray(start, start + Number(length[1]));
    const content = (/\/Filter \/FlateDecode/.test(dict) ? inflateSync(raw) : raw).toString('latin1');
    if (!/\bBT\b/.test(content)) continue;
    const lines: string[] = [];
    for (const block of content.split(/\bBT\b/).slice(1)) {
      const body = block.split(/\bET\b/)[0]!;
      const parts = [...body.matchAll(/\[([^\]]*)\]\s*TJ/g)].flatMap((tj) =>
        [...tj[1]!.matchAll(/<([0-9a-fA-F]*)>/g)].map((h) => decodeHex(h[1]!)),
      );
      if (parts.length) lines.push(parts.join(''));
    }
    pages.push(lines);
  }
  const lines = pages.flat();
  return { pages, lines, text: lines.join('\n') };
}

/** Asserts helper: whether `expected` appear in `lines` in this order (not necessarily adjacent). */
export function inOrder(lines: string[], expected: string[]): boolean {
  let at = 0;
  for (const e of expected) {
    const i = lines.indexOf(e, at);
    if (i < 0) return false;
    at = i + 1;
  }
  return true;
}

/** A line of text as drawn: where it starts, in which font and size, and how wide it is. */
export interface PlacedText {
  page: number;
  text: string;
  x: number;
  /** The baseline, from the bottom of the page (PDF coordinates). */
  y: number;
  font: string;
  size: number;
  width: number;
}

/**
 * Every text object of the PDF with its position and width, measured with pdfkit's own metrics of
 * the font it names: enough to assert that no text runs past the page's margins.
 */
export async function placedText(pdf: Buffer): Promise<PlacedText[]> {
  const { default: PDFDocument } = await import('pdfkit');
  const measure = new PDFDocument({ size: 'A4' });
  const src = pdf.toString('latin1');
  // pdfkit names each font once for the whole document: /F1 8 0 R, and object 8 says /BaseFont /Helvetica.
  const baseFonts = new Map<string, string>();
  for (const ref of src.matchAll(/\/(F\d+) (\d+) 0 R/g)) {
    const obj = new RegExp(`(?:^|\\n)${ref[2]} 0 obj\\s*<<[^]*?/BaseFont /([\\w-]+)`).exec(src);
    if (obj) baseFonts.set(ref[1]!, obj[1]!);
  }
  const out: PlacedText[] = [];
  const streamRe = /<<((?:(?!<<)[^])*?)>>\s*stream\r?\n/g;
  let m: RegExpExecArray | null;
  let page = 0;
  while ((m = streamRe.exec(src))) {
    const dict = m[1]!;
    const length = /\/Length (\d+)/.exec(dict);
    if (!length || /\/Subtype \/Image/.test(dict)) continue;
    const start = m.index + m[0].length;
    const raw = pdf.subarray(start, start + Number(length[1]));
    const content = (/\/Filter \/FlateDecode/.test(dict) ? inflateSync(raw) : raw).toString('latin1');
    if (!/\bBT\b/.test(content)) continue;
    page++;
    for (const block of content.split(/\bBT\b/).slice(1)) {
      const body = block.split(/\bET\b/)[0]!;
      const tm = /([-\d.]+) ([-\d.]+) Tm/.exec(body);
      const tf = /\/(F\d+) ([\d.]+) Tf/.exec(body);
      const text = [...body.matchAll(/\[([^\]]*)\]\s*TJ/g)]
        .flatMap((tj) => [...tj[1]!.matchAll(/<([0-9a-fA-F]*)>/g)].map((h) => decodeHex(h[1]!)))
        .join('');
      if (!tm || !tf || text === '') continue;
      const font = baseFonts.get(tf[1]!) ?? 'Helvetica';
      const size = Number(tf[2]);
      const width = measure.font(font).fontSize(size).widthOfString(text);
      out.push({ page, text, x: Number(tm[1]), y: Number(tm[2]), font, size, width });
    }
  }
  return out;
}
