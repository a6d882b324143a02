// Loads what the Stripe connector and the PDFs load on first use (test/lazy-modules.test.ts).
import { stripeSdk } from '../../src/connectors/stripe/api.ts';
import { pdfkit } from '../../src/ledger/pdfkit.ts';

await stripeSdk();
pdfkit();
