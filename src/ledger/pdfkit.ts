import { createRequire } from 'node:module';
import type PDFKit from 'pdfkit';

let loaded: typeof PDFKit | undefined;

/**
 * pdfkit, loaded the first time a PDF is drawn or a logo is read. Imported at the top it was a
 * fifth of a second of every process start (`serve`, `worker`, each command) through tsx, for
 * documents most starts never draw (docs/performance.md, "Starting a process"). Its CommonJS build
 * loads synchronously, so drawing and logo checks stay synchronous.
 */
export function pdfkit(): typeof PDFKit {
  loaded ??= createRequire(import.meta.url)('pdfkit') as typeof PDFKit;
  return loaded;
}
