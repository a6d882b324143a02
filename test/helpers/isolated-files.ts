/**
 * Test files that change state of the process the files after them would see: connectors
 * registered for the test, a connector's runtime settings, hosts allowed out, environment
 * variables. vitest.config.ts runs each of these in a process of its own; every other file shares
 * its worker with the files before it (docs/testing.md). test/isolated-files.test.ts keeps the list
 * complete.
 */
export const CHANGES_PROCESS_STATE = [
  'src/sync/registry.test.ts',
  'test/accountsiq.test.ts',
  'test/acumatica.test.ts',
  'test/browser/connections.test.ts',
  'test/browser/settings.test.ts',
  'test/businesscentral.test.ts',
  'test/conformance/accountsiq.test.ts',
  'test/conformance/acumatica.test.ts',
  'test/conformance/businesscentral.test.ts',
  'test/conformance/freshbooks.test.ts',
  'test/conformance/intacct.test.ts',
  'test/conformance/myob.test.ts',
  'test/conformance/netsuite.test.ts',
  'test/conformance/odoo.test.ts',
  'test/conformance/quickbooks.test.ts',
  'test/conformance/xero.test.ts',
  'test/conformance/zohobooks.test.ts',
  'test/freshbooks.test.ts',
  'test/import-hostile.test.ts',
  'test/imports.test.ts',
  'test/inbound.test.ts',
  'test/intacct.test.ts',
  'test/line-quantities.test.ts',
  'test/myob-connect.test.ts',
  'test/myob.test.ts',
  'test/netsuite.test.ts',
  'test/oauth-connections.test.ts',
  'test/odoo.test.ts',
  'test/oidc.test.ts',
  'test/pipeline-security.test.ts',
  'test/pipeline-types.test.ts',
  'test/quickbooks-ledger-source.test.ts',
  'test/quickbooks-webhook-e2e.test.ts',
  'test/quickbooks.test.ts',
  'test/start-flags.test.ts',
  'test/sync-api-schemas.test.ts',
  'test/unstorable-source-text.test.ts',
  'test/web-connections.test.ts',
  'test/xero-ledger-source.test.ts',
  'test/xero-reconcile.test.ts',
  'test/xero-webhook-e2e.test.ts',
  'test/xero.test.ts',
  'test/zohobooks.test.ts',
];

/** Calls and assignments that leave state behind in the process, as they are written in a test. */
export const PROCESS_STATE_CHANGES =
  /register(Source|Target|Inbound|FileFormat)\(|configure[A-Za-z]*Runtime\(|allowOutboundHost\(|process\.env\.[A-Za-z_]+ *=[^=]|process\.env\[[^\]]+\] *=[^=]|delete process\.env|Object\.assign\(process\.env|vi\.(spyOn|stubEnv|stubGlobal|useFakeTimers|mock|doMock)\(|globalThis\.[A-Za-z_]+ *=[^=]|setGlobalDispatcher\(|process\.on\(|process\.chdir\(/;
