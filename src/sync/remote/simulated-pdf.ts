/**
 * A one-page PDF whose text is `text`, in Helvetica: what the platform simulators answer for an
 * invoice's PDF, so that write-back and tests can attach it and find the invoice's number and total
 * in it. `hex` writes the text as a hex string in a TJ array, as pdfkit (and Business Central) do;
 * otherwise it is a literal string, its parentheses and backslashes left out.
 */
export function onePagePdf(text: string, o: { hex?: boolean } = {}): Buffer {
  const shown = o.hex ? `[<${Buffer.from(text, 'latin1').toString('hex')}>] TJ` : `(${text.replace(/[()\\]/g, '')}) Tj`;
  const content = `BT /F1 12 Tf 72 720 Td ${shown} ET`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  for (const [i, obj] of objects.entries()) {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${obj}\nendobj\n`;
  }
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) out += `${String(offset).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}
