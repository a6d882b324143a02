import * as accountsiqSettings from '../src/connectors/accountsiq/settings.ts';
import { startAccountsIqSimulator } from '../src/connectors/accountsiq/simulator.ts';
import { createAccountsIqTarget } from '../src/connectors/accountsiq/target.ts';
import * as acumaticaSettings from '../src/connectors/acumatica/settings.ts';
import { startAcumaticaSimulator } from '../src/connectors/acumatica/simulator.ts';
import { createAcumaticaTarget } from '../src/connectors/acumatica/target.ts';
import * as bcSettings from '../src/connectors/businesscentral/settings.ts';
import { startBusinessCentralSimulator } from '../src/connectors/businesscentral/simulator.ts';
import { createBusinessCentralTarget } from '../src/connectors/businesscentral/target.ts';
import * as freshbooksSettings from '../src/connectors/freshbooks/settings.ts';
import { startFreshBooksSimulator } from '../src/connectors/freshbooks/simulator.ts';
import { createFreshBooksTarget } from '../src/connectors/freshbooks/target.ts';
import * as intacctSettings from '../src/connectors/intacct/settings.ts';
import { startIntacctSimulator } from '../src/connectors/intacct/simulator.ts';
import { createIntacctTarget } from '../src/connectors/intacct/target.ts';
import * as myobSettings from '../src/connectors/myob/settings.ts';
import { startMyobSimulator } from '../src/connectors/myob/simulator.ts';
import { createMyobTarget } from '../src/connectors/myob/target.ts';
import * as netsuiteSettings from '../src/connectors/netsuite/settings.ts';
import { startNetSuiteSimulator, testKeyPair } from '../src/connectors/netsuite/simulator.ts';
import { createNetSuiteTarget } from '../src/connectors/netsuite/target.ts';
import * as odooSettings from '../src/connectors/odoo/settings.ts';
import { startOdooSimulator } from '../src/connectors/odoo/simulator.ts';
import { createOdooTarget } from '../src/connectors/odoo/target.ts';
import * as zohoSettings from '../src/connectors/zohobooks/settings.ts';
import { startZohoBooksSimulator } from '../src/connectors/zohobooks/simulator.ts';
import { createZohoBooksTarget } from '../src/connectors/zohobooks/target.ts';
import { type BackfillPlatform, type CallKind, scaledWindows } from './backfill-platforms.ts';
import { refreshTokens, simulated } from './backfill-session.ts';
import type { WindowLimit } from './backfill-minimum.ts';

/*
 * The platforms beyond Xero and QuickBooks, one entry each: the simulator started on the scaled
 * clock with the limits of the platform's settings (src/connectors/<name>/settings.ts, the same
 * data the target paces by), the target pointed at it, and what the simulator counts. Where a
 * platform publishes no limit (AccountsIQ, Acumatica, Odoo, FreshBooks), the simulator stands in
 * for a server with the limits ledgerlink keeps to by default, and the ratio says how close the
 * target comes to its own pace. docs/performance.md, "Connector backfills", the model per platform.
 */

const all = () => true;
/** The rolling windows a platform's settings declare, scaled. */
function windows(minuteMs: number, l: { perSecond?: number; perMinute?: number; perDay?: number }) {
  const w = scaledWindows(minuteMs);
  const out: WindowLimit<CallKind>[] = [];
  if (l.perSecond) out.push({ name: 'calls a second', limit: l.perSecond, windowMs: w.second, counts: all });
  if (l.perMinute) out.push({ name: 'calls a minute', limit: l.perMinute, windowMs: w.minute, counts: all });
  if (l.perDay) out.push({ name: 'calls a day', limit: l.perDay, windowMs: w.day, counts: all });
  return out;
}

/**
 * How long NetSuite and Intacct take to answer a call (their only published limit is calls at
 * once, so the answer time sets the pace): an assumed 500 ms each, which neither publishes, on the
 * scaled clock like every window.
 */
const answerMs = (minuteMs: number) => Math.round((500 * minuteMs) / 60_000);

const CLIENT = { clientId: 'ledgerlink-bench', clientSecret: 'bench-secret-0123456789abcdef' };

const AIQ = accountsiqSettings.DEFAULT_LIMITS;
export const accountsiq = simulated({
  name: 'AccountsIQ',
  currency: 'EUR',
  vatRate: '0.21',
  describeLimits: `none published; ours: ${AIQ.callsPerSecond} calls a second, ${AIQ.callsPerMinute} a minute, ${AIQ.concurrent} at once; ${AIQ.batchSize} invoices a call`,
  counts: {
    full: { invoices: 5000, customers: 100, minuteMs: 60_000, sampleMinutes: 0.5 },
    quick: { invoices: 200, customers: 5, minuteMs: 6000, sampleMinutes: 0.1 },
  },

  batchesOnTheWire: true,
  limits: (minuteMs) => windows(minuteMs, { perSecond: AIQ.callsPerSecond, perMinute: AIQ.callsPerMinute }),
  start: (minuteMs) =>
    startAccountsIqSimulator({
      entityId: 'BENCH',
      ...CLIENT,
      glAccounts: ['4000'],
      taxCodes: [['S', '0.21']],
      limits: {
        perSecond: AIQ.callsPerSecond,
        perMinute: AIQ.callsPerMinute,
        concurrent: AIQ.concurrent,
        minuteMs,
      },
    }),
  url: (sim) => sim.url,
  settings: (sim) => ({ type: 'accountsiq', url: sim.url, entityId: 'BENCH', ...CLIENT, glAccountCode: '4000' }),
  create: (deps, o) => createAccountsIqTarget(deps, { planner: o.planner }),
  admitted: (sim) => sim.stats.calls - sim.stats.rateLimited,
  rateLimited: (sim) => sim.stats.rateLimited,
  booked: (sim) =>
    [...sim.books.transactions.values()].filter((x) => x.type === 'SalesBatchInvoice').map((x) => x.reference),
});

const BC = bcSettings.PUBLISHED_LIMITS;
export const businesscentral = simulated({
  name: 'Business Central',
  currency: 'EUR',
  vatRate: '0.21',
  describeLimits: `per service principal ${BC.callsPerFiveMinutes.toLocaleString('en')} calls in 5 minutes (the planner: ${BC.callsPerMinute.toLocaleString('en')} a minute), ${BC.concurrent} at once`,
  counts: {
    full: { invoices: 2100, customers: 50, minuteMs: 60_000, sampleMinutes: 2 },
    quick: { invoices: 15, customers: 2, minuteMs: 2000, sampleMinutes: 1 },
  },

  batchesOnTheWire: false,
  limits: (minuteMs) => [
    { name: 'calls in 5 minutes', limit: BC.callsPerFiveMinutes, windowMs: 5 * minuteMs, counts: all },
  ],
  start: (minuteMs) =>
    startBusinessCentralSimulator({
      client: CLIENT,
      limit: { requests: BC.callsPerFiveMinutes, windowMs: 5 * minuteMs },
    }),
  url: (sim) => sim.url,
  settings: (sim) => ({
    type: 'businesscentral',
    ...CLIENT,
    tenantId: sim.tenantId,
    environment: sim.environment,
    companyId: sim.companyId,
    baseUrl: sim.baseUrl,
    tokenUrl: sim.tokenUrl,
    accounts: { sales: '40100' },
    taxRates: { '0.21': 'VAT21' },
  }),
  create: (deps, o) => createBusinessCentralTarget(deps, { planner: o.planner }),
  admitted: (sim) => sim.stats.calls - sim.stats.throttled,
  rateLimited: (sim) => sim.stats.throttled,
  booked: (sim) =>
    [...sim.company.docs.values()].filter((d) => d.set === 'salesInvoices').map((d) => d.externalDocumentNumber),
});

const ACU = acumaticaSettings.DEFAULT_LIMITS;
export const acumatica = simulated({
  name: 'Acumatica',
  currency: 'EUR',
  vatRate: '0.21',
  describeLimits: `set by the licence, none published; ours: ${ACU.callsPerMinute} calls a minute, ${ACU.concurrent} at once`,
  counts: {
    full: { invoices: 100, customers: 10, minuteMs: 10_000, sampleMinutes: 2 },
    quick: { invoices: 15, customers: 2, minuteMs: 1000, sampleMinutes: 1 },
  },

  batchesOnTheWire: false,
  limits: (minuteMs) => windows(minuteMs, { perMinute: ACU.callsPerMinute }),
  start: (minuteMs) =>
    startAcumaticaSimulator({
      users: [{ name: 'api', password: CLIENT.clientSecret }],
      tenant: 'Company',
      currency: 'EUR',
      taxCategories: { STANDARD: '0.21' },
      cashAccounts: ['10200'],
      requestsPerMinute: ACU.callsPerMinute,
      concurrentRequests: ACU.concurrent,
      minuteMs,
    }),
  url: (sim) => sim.url,
  settings: (sim, minuteMs) => ({
    type: 'acumatica',
    instanceUrl: sim.url,
    username: 'api',
    password: CLIENT.clientSecret,
    tenant: 'Company',
    currency: 'EUR',
    taxCategories: { '0.21': 'STANDARD' },
    cashAccount: '10200',
    // The release action is polled each (scaled) second: a real second would stand for a minute.
    actionPollMs: Math.max(10, Math.round(scaledWindows(minuteMs).second)),
  }),
  create: (deps, o) => createAcumaticaTarget(deps, { planner: o.planner }),
  admitted: (sim) => sim.stats.counted,
  rateLimited: (sim) => sim.stats.throttled,
  booked: (sim) => [...sim.books.documents.values()].filter((d) => d.type === 'Invoice').map((d) => d.customerOrder),
});

const ZOHO = zohoSettings.PUBLISHED_LIMITS;
const ZOHO_ORG = '70000000001';
export const zohobooks = simulated({
  name: 'Zoho Books',
  currency: 'EUR',
  vatRate: '0.21',
  describeLimits: `per organisation ${ZOHO.callsPerMinute} calls a minute, ${ZOHO.callsPerDay.toLocaleString('en')} a day (free plan); ours: ${ZOHO.concurrent} at once`,
  counts: {
    full: { invoices: 400, customers: 20, minuteMs: 10_000, sampleMinutes: 2 },
    quick: { invoices: 60, customers: 3, minuteMs: 2000, sampleMinutes: 1 },
  },

  batchesOnTheWire: false,
  limits: (minuteMs) => windows(minuteMs, { perMinute: ZOHO.callsPerMinute, perDay: ZOHO.callsPerDay }),
  start: (minuteMs) =>
    startZohoBooksSimulator({
      ...CLIENT,
      organisations: { [ZOHO_ORG]: { name: 'Bench BV', currency: 'EUR' } },
      limits: {
        perMinute: ZOHO.callsPerMinute,
        perDay: ZOHO.callsPerDay,
        minuteMs,
        dayMs: scaledWindows(minuteMs).day,
      },
    }),
  url: (sim) => sim.baseUrl,
  settings: (sim) => ({
    type: 'zohobooks',
    ...CLIENT,
    refreshToken: 'unused: the bench hands the target its tokens',
    organizationId: ZOHO_ORG,
    baseUrl: sim.baseUrl,
    tokenUrl: sim.tokenUrl,
  }),
  auth: (sim) =>
    refreshTokens(
      { system: zohoSettings.SYSTEM, tokenUrl: sim.tokenUrl, ...CLIENT, clientAuthentication: 'body' },
      sim.issueRefreshToken(),
    ),
  create: (deps, o) => createZohoBooksTarget(deps, { planner: o.planner, auth: o.auth }),
  admitted: (sim) => sim.stats.calls - sim.stats.rateRefused,
  rateLimited: (sim) => sim.stats.rateRefused,
  booked: (sim) => [...sim.org(ZOHO_ORG).invoices.values()].map((d) => d.reference_number),
});

const NS = netsuiteSettings.PUBLISHED_LIMITS;
const NS_KEYS = testKeyPair();
const NS_CLIENT = { clientId: 'bench0c0ffee0123456789abcdef', certificateId: 'CERT-BENCH-1' };
export const netsuite = simulated({
  name: 'NetSuite',
  currency: 'EUR',
  vatRate: '0.21',
  describeLimits: `per account ${NS.concurrent} requests at once (lowest tier), nothing a minute or a day; answers in 500 ms (assumed)`,
  counts: {
    full: { invoices: 300, customers: 20, minuteMs: 60_000, sampleMinutes: 2 },
    quick: { invoices: 20, customers: 3, minuteMs: 6000, sampleMinutes: 1 },
  },

  batchesOnTheWire: false,
  limits: () => [],
  concurrency: (minuteMs) => ({ limit: NS.concurrent, serviceMs: answerMs(minuteMs) }),
  start: (minuteMs) =>
    startNetSuiteSimulator({
      accountId: '7654321',
      clients: [{ ...NS_CLIENT, publicKey: NS_KEYS.publicKey }],
      currency: 'EUR',
      items: ['Sales'],
      concurrency: NS.concurrent,
      latencyMs: answerMs(minuteMs),
    }),
  url: (sim) => sim.baseUrl,
  settings: (sim) => ({
    type: 'netsuite',
    accountId: '7654321',
    ...NS_CLIENT,
    privateKey: NS_KEYS.privateKey,
    currency: 'EUR',
    defaultItemId: [...sim.account.items.values()].find((i) => i.itemId === 'Sales')!.id,
    taxRates: { '0.21': sim.account.taxCodes.find((c) => c.rate === '21')!.id },
    baseUrl: sim.baseUrl,
    tokenUrl: sim.tokenUrl,
  }),
  create: (deps, o) => createNetSuiteTarget(deps, { planner: o.planner }),
  admitted: (sim) => sim.stats.calls - sim.stats.rateRefused,
  rateLimited: (sim) => sim.stats.rateRefused,
  booked: (sim) => sim.account.invoices().map((d) => d.externalId),
});

const SI = intacctSettings.PUBLISHED_LIMITS;
const SI_SENDER = { senderId: 'll_bench_sender', senderPassword: 'bench-sender-secret-0123456789' };
export const intacct = simulated({
  name: 'Sage Intacct',
  currency: 'EUR',
  vatRate: '0.21',
  describeLimits: `per company ${SI.concurrent} requests at once (tier 1); a monthly entitlement billed, not blocked; answers in 500 ms (assumed)`,
  counts: {
    full: { invoices: 100, customers: 10, minuteMs: 60_000, sampleMinutes: 2 },
    quick: { invoices: 20, customers: 2, minuteMs: 6000, sampleMinutes: 1 },
  },

  batchesOnTheWire: false,
  limits: () => [],
  concurrency: (minuteMs) => ({ limit: SI.concurrent, serviceMs: answerMs(minuteMs) }),
  start: (minuteMs) =>
    startIntacctSimulator({
      ...SI_SENDER,
      users: [{ companyId: 'BENCH', userId: 'xml_user', password: CLIENT.clientSecret }],
      companies: { BENCH: { currency: 'EUR', glAccounts: ['4000', '2200'], bankAccounts: ['BANK1'] } },
      latencyMs: answerMs(minuteMs),
      limits: { concurrent: SI.concurrent },
    }),
  url: (sim) => sim.endpoint,
  settings: (sim) => ({
    type: 'intacct',
    endpoint: sim.endpoint,
    ...SI_SENDER,
    companyId: 'BENCH',
    userId: 'xml_user',
    userPassword: CLIENT.clientSecret,
    currency: 'EUR',
    salesGlAccount: '4000',
    taxGlAccounts: { '0.21': '2200' },
    bankAccountId: 'BANK1',
  }),
  create: (deps, o) => createIntacctTarget(deps, { planner: o.planner }),
  admitted: (sim) => sim.stats.calls - sim.stats.rateRefused,
  rateLimited: (sim) => sim.stats.rateRefused,
  booked: (sim) =>
    [...sim.company('BENCH').records.values()].filter((r) => r.kind === 'invoice').map((r) => r.DOCNUMBER),
});

const ODOO = odooSettings.DEFAULT_LIMITS;
export const odoo = simulated({
  name: 'Odoo',
  currency: 'EUR',
  vatRate: '0.21',
  describeLimits: `none published; ours: ${ODOO.callsPerMinute} calls a minute, ${ODOO.concurrent} at once`,
  counts: {
    full: { invoices: 200, customers: 20, minuteMs: 10_000, sampleMinutes: 2 },
    quick: { invoices: 45, customers: 3, minuteMs: 2000, sampleMinutes: 1 },
  },

  batchesOnTheWire: false,
  limits: (minuteMs) => windows(minuteMs, { perMinute: ODOO.callsPerMinute }),
  start: (minuteMs) =>
    startOdooSimulator({
      version: '17',
      database: 'bench',
      company: { companyName: 'Bench BV', currency: 'EUR', taxes: { '21%': '21' } },
      limits: { perMinute: ODOO.callsPerMinute, minuteMs },
    }),
  url: (sim) => sim.url,
  settings: (sim) => ({
    type: 'odoo',
    url: sim.url,
    database: sim.database,
    login: sim.login,
    apiKey: sim.issueApiKey(),
    version: '17',
  }),
  create: (deps, o) => createOdooTarget(deps, { planner: o.planner }),
  admitted: (sim) => sim.stats.calls - sim.stats.rateRefused,
  rateLimited: (sim) => sim.stats.rateRefused,
  booked: (sim) => [...sim.db.moves.values()].filter((m) => m.move_type === 'out_invoice').map((m) => m.ref),
});

const FB = freshbooksSettings.DEFAULT_LIMITS;
export const freshbooks = simulated({
  name: 'FreshBooks',
  currency: 'EUR',
  vatRate: '0.21',
  describeLimits: `none published; ours: ${FB.callsPerMinute} calls a minute, ${FB.concurrent} at once`,
  counts: {
    full: { invoices: 150, customers: 20, minuteMs: 10_000, sampleMinutes: 2 },
    quick: { invoices: 35, customers: 3, minuteMs: 2000, sampleMinutes: 1 },
  },

  batchesOnTheWire: false,
  limits: (minuteMs) => windows(minuteMs, { perMinute: FB.callsPerMinute }),
  start: (minuteMs) =>
    startFreshBooksSimulator({
      ...CLIENT,
      accounts: { BENCH: { name: 'Bench Ltd' } },
      limits: { perMinute: FB.callsPerMinute, minuteMs },
    }),
  url: (sim) => sim.baseUrl,
  settings: (sim) => ({
    type: 'freshbooks',
    ...CLIENT,
    refreshToken: 'unused: the bench hands the target its tokens',
    tenantId: 'BENCH',
    baseUrl: sim.baseUrl,
    tokenUrl: sim.tokenUrl,
  }),
  auth: (sim) =>
    refreshTokens(
      { system: freshbooksSettings.SYSTEM, tokenUrl: sim.tokenUrl, ...CLIENT, clientAuthentication: 'body' },
      sim.issueRefreshToken(),
    ),
  create: (deps, o) => createFreshBooksTarget(deps, { planner: o.planner, auth: o.auth }),
  admitted: (sim) => sim.stats.calls - sim.stats.rateRefused,
  rateLimited: (sim) => sim.stats.rateRefused,
  booked: (sim) => [...sim.account('BENCH').invoices.values()].map((d) => d.po_number),
});

const MYOB = myobSettings.PUBLISHED_LIMITS;
const MYOB_FILE = '0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0';
export const myob = simulated({
  name: 'MYOB',
  currency: 'EUR',
  vatRate: '0.21',
  describeLimits: `per API key ${MYOB.callsPerSecond} calls a second, ${MYOB.callsPerDay.toLocaleString('en')} a day; ours: ${MYOB.concurrent} at once`,
  counts: {
    full: { invoices: 200, customers: 20, minuteMs: 60_000, sampleMinutes: 2 },
    quick: { invoices: 25, customers: 3, minuteMs: 10_000, sampleMinutes: 1 },
  },

  batchesOnTheWire: false,
  limits: (minuteMs) => windows(minuteMs, { perSecond: MYOB.callsPerSecond, perDay: MYOB.callsPerDay }),
  start: (minuteMs) =>
    startMyobSimulator({
      ...CLIENT,
      companyFiles: { [MYOB_FILE]: { currency: 'EUR', taxCodes: { V21: '21' } } },
      limits: { perSecond: MYOB.callsPerSecond, perDay: MYOB.callsPerDay, secondMs: scaledWindows(minuteMs).second },
    }),
  url: (sim) => sim.baseUrl,
  settings: (sim) => ({
    type: 'myob',
    ...CLIENT,
    refreshToken: 'unused: the bench hands the target its tokens',
    companyFileId: MYOB_FILE,
    currency: 'EUR',
    customerTaxCode: 'V21',
    accounts: { sales: '4-1000', bank: '1-1110' },
    baseUrl: sim.baseUrl,
    tokenUrl: sim.tokenUrl,
  }),
  auth: (sim) =>
    refreshTokens(
      { system: myobSettings.SYSTEM, tokenUrl: sim.tokenUrl, ...CLIENT, clientAuthentication: 'body' },
      sim.issueRefreshToken(),
    ),
  create: (deps, o) => createMyobTarget(deps, { planner: o.planner, auth: o.auth }),
  admitted: (sim) => sim.stats.calls - sim.stats.rateRefused,
  rateLimited: (sim) => sim.stats.rateRefused,
  booked: (sim) => [...sim.file(MYOB_FILE).sales.values()].map((s) => s.reference),
});

/** Every platform beyond Xero and QuickBooks, in the report's order. */
export const MORE_PLATFORMS: Record<string, BackfillPlatform> = {
  accountsiq,
  businesscentral,
  acumatica,
  zohobooks,
  netsuite,
  intacct,
  odoo,
  freshbooks,
  myob,
};
