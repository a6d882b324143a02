// `node --import ./test/helpers/record-loads.js …`: writes what the process loaded to the file named by
// LEDGERLINK_RECORD_LOADS (test/lazy-modules.test.ts): the URL of every module the ES module loader
// loads, and at exit the CommonJS modules required (which that loader does not see on Node 20).
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { pathToFileURL } from 'node:url';

export async function load(url, context, next) {
  const loaded = await next(url, context);
  appendFileSync(process.env.LEDGERLINK_RECORD_LOADS, `${url}\n`);
  return loaded;
}

const file = process.env.LEDGERLINK_RECORD_LOADS;
if (file) {
  register(import.meta.url);
  const cache = createRequire(import.meta.url).cache;
  process.on('exit', () => {
    const required = Object.keys(cache).map((path) => pathToFileURL(path).href);
    appendFileSync(file, required.map((url) => `${url}\n`).join(''));
  });
}
