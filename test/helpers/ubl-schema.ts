import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unzipSync } from 'fflate';
import { validateXML } from 'xmllint-wasm';

/*
 * The OASIS UBL 2.1 schemas, for validating the e-invoices ledgerlink writes. No npm package ships
 * them and they are not ours to commit, so they are read from LEDGERLINK_UBL_XSD_DIR when set, else
 * from ../shared/specs/ubl-2.1 beside the repository (where the official contracts live), else from
 * a cache outside the repository, which the first run fills from the OASIS release package.
 */
const SHARED = resolve(fileURLToPath(new URL('../../', import.meta.url)), '..', 'shared', 'specs', 'ubl-2.1');
const OASIS_ZIP = 'https://docs.oasis-open.org/ubl/os-UBL-2.1/UBL-2.1.zip';
const MARKER = join('xsd', 'maindoc', 'UBL-Invoice-2.1.xsd');

function cacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'ledgerlink', 'os-UBL-2.1');
}

/** Downloads the OASIS package once and keeps its xsd/ folder; false when it cannot be reached. */
async function download(target: string): Promise<boolean> {
  let zip: Uint8Array;
  try {
    const res = await fetch(OASIS_ZIP, { signal: AbortSignal.timeout(20_000) });
    if (!res.ok) return false;
    zip = new Uint8Array(await res.arrayBuffer());
  } catch {
    return false;
  }
  const files = unzipSync(zip, { filter: (f) => /(^|\/)xsd\/(common|maindoc)\/[^/]+\.xsd$/.test(f.name) });
  const staging = `${target}.partial-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  for (const [name, data] of Object.entries(files)) {
    const rel = name.slice(name.indexOf('xsd/'));
    await mkdir(join(staging, dirname(rel)), { recursive: true });
    await writeFile(join(staging, rel), data);
  }
  if (!existsSync(join(staging, MARKER))) return false;
  await mkdir(dirname(target), { recursive: true });
  await rm(target, { recursive: true, force: true });
  await rename(staging, target);
  return true;
}

/** The folder holding xsd/common and xsd/maindoc, or null with the reason when there is none. */
export async function ublSchemaDir(): Promise<{ dir: string } | { missing: string }> {
  const configured = process.env.LEDGERLINK_UBL_XSD_DIR;
  if (configured) {
    return existsSync(join(configured, MARKER))
      ? { dir: configured }
      : { missing: `LEDGERLINK_UBL_XSD_DIR=${configured} holds no ${MARKER}` };
  }
  if (existsSync(join(SHARED, MARKER))) return { dir: SHARED };
  const dir = cacheDir();
  if (existsSync(join(dir, MARKER))) return { dir };
  if (await download(dir)) return { dir };
  return {
    missing:
      `the UBL 2.1 schemas are neither in ${SHARED} nor in ${dir}, and ${OASIS_ZIP} could not be downloaded; ` +
      `put the xsd/ folder of the OASIS UBL 2.1 package in one of them or name its parent in LEDGERLINK_UBL_XSD_DIR`,
  };
}

/** A validator of UBL 2.1 documents against the OASIS XSDs (libxml2 compiled to WebAssembly). */
export async function ublValidator(dir: string) {
  const common = await Promise.all(
    (await readdir(join(dir, 'xsd', 'common')))
      .filter((f) => f.endsWith('.xsd'))
      .map(async (f) => ({ fileName: `xsd/common/${f}`, contents: await readFile(join(dir, 'xsd', 'common', f)) })),
  );
  const main = async (kind: 'Invoice' | 'CreditNote') => ({
    fileName: `xsd/maindoc/UBL-${kind}-2.1.xsd`,
    contents: await readFile(join(dir, 'xsd', 'maindoc', `UBL-${kind}-2.1.xsd`)),
  });
  const schemas = { Invoice: await main('Invoice'), CreditNote: await main('CreditNote') };
  return async (xml: string): Promise<string[]> => {
    const kind = /<CreditNote[\s>]/.test(xml) ? 'CreditNote' : 'Invoice';
    const result = await validateXML({
      xml: { fileName: 'document.xml', contents: xml },
      schema: schemas[kind],
      preload: common,
    });
    return result.errors.map((e) => e.message);
  };
}
