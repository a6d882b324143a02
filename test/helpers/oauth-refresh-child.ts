// A worker that refreshes a pipeline's OAuth access token once and then idles, for the kill -9
// test (test/oauth-crash.test.ts): run with `node bin/run-ts.js test/helpers/oauth-refresh-child.ts`.
import { openDatabase } from '../../src/db/open.ts';
import { oauthTokenSource } from '../../src/sync/remote/oauth.ts';
import { SecretBox } from '../../src/sync/secrets.ts';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};

const db = await openDatabase(
  process.env.CHILD_DATABASE_URL
    ? { databaseUrl: process.env.CHILD_DATABASE_URL, schema: env('CHILD_SCHEMA'), poolSize: 2 }
    : { dataDir: env('CHILD_DATA_DIR') },
);
const tokenUrl = new URL(env('CHILD_TOKEN_URL'));
const source = oauthTokenSource({
  db,
  box: SecretBox.fromBase64(env('CHILD_KEY'), 'CHILD_KEY'),
  pipelineId: env('CHILD_PIPELINE_ID'),
  system: 'Books',
  tokenUrl: tokenUrl.href,
  clientId: env('CHILD_CLIENT_ID'),
  clientSecret: env('CHILD_CLIENT_SECRET'),
  refreshToken: env('CHILD_REFRESH_TOKEN'),
  guard: { policy: { allowPrivateNetworks: false, allow: [{ host: tokenUrl.hostname, port: Number(tokenUrl.port) }] } },
});
await source.accessToken();
process.stdout.write('REFRESHED\n');
// Idle until killed: no clean shutdown ever happens.
setInterval(() => undefined, 60_000);
