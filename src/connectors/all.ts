// Loads every connector so it registers its source and target types. Add a line per connector.
// Only entry points (the CLI runtime, the server, test helpers) import this file.
import './ledger/index.ts';
import './records/index.ts';
import './ixpole/index.ts';
import './csv/index.ts';
import './webhook/index.ts';
import './stripe/index.ts';
import './quickbooks/index.ts';
import './xero/index.ts';
import './accountsiq/index.ts';
import './acumatica/index.ts';
import './businesscentral/index.ts';
import './zohobooks/index.ts';
import './intacct/index.ts';
import './netsuite/index.ts';
import './freshbooks/index.ts';
import './myob/index.ts';
import './odoo/index.ts';
