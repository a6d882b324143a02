import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/*
 * Dependencies point inward (STYLE.md): domain <- ledger <- sync <- connectors <- api, cli. The rule
 * sees an import as written, so each folder's block is built per depth: from a file n folders
 * below src/, `../` written n times is src/ itself. A wrong import then fails `npm run lint`.
 */
const MAX_DEPTH = 6;
const up = (n) => `^(?:\\.\\./){${n}}`;

/**
 * One no-restricted-imports block per depth for the files under `folder` (`depth` folders below
 * src/, e.g. 1 for src/sync, 2 for src/connectors/*); `patterns(n)` builds the regexes for a file
 * n folders below src/.
 */
function layer(folder, depth, patterns, ignores = [], ext = 'ts') {
  const blocks = [];
  for (let n = depth; n <= MAX_DEPTH; n++) {
    blocks.push({
      files: [`${folder}/${'*/'.repeat(n - depth)}*.${ext}`],
      ignores,
      rules: { 'no-restricted-imports': ['error', { patterns: patterns(n) }] },
    });
  }
  return blocks;
}

const CONNECTOR =
  'A connector talks to ledgerlink through src/sync (its registries, SourceDeps.target) and imports only src/domain, src/db and src/sync';
/** A connector's files: nothing of another connector, and of src/ only the folders in `allowed`. */
const connectorPatterns = (allowed, message) => (n) => [
  { regex: `${up(n - 1)}(?!\\.\\./)`, message: `${message}; never another connector.` },
  { regex: `${up(n)}(?!(?:${allowed.join('|')})/)`, message: `${message}; never src/api, src/cli or src/ledger.` },
];

const inward = [
  ...layer('src/domain', 1, (n) => [
    { regex: up(n), message: 'src/domain is pure logic: it imports nothing of ours outside src/domain.' },
  ]),
  ...layer('src/ledger', 1, (n) => [
    {
      regex: `${up(n)}(?:sync|connectors|api|cli)/`,
      message: 'The embedded ledger knows nothing of the sync engine, connectors, the API or the CLI.',
    },
  ]),
  ...layer('src/sync', 1, (n) => [
    {
      regex: `${up(n)}(?:api|connectors|cli)/`,
      message:
        'src/sync imports neither src/api, src/cli nor a connector: connectors fill its registries (src/sync/registry.ts).',
    },
  ]),
  ...layer(
    'src/api',
    1,
    (n) => [
      {
        regex: `${up(n)}(?:connectors|cli)/`,
        message:
          'src/api reaches connectors through the registries of src/sync; only src/api/routes/sync.ts loads src/connectors/all.ts.',
      },
    ],
    ['src/api/routes/sync.ts'],
  ),
  {
    // The API's one bootstrap: it loads every connector before listing their routes.
    files: ['src/api/routes/sync.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `${up(2)}(?:cli/|connectors/(?!all\\.ts$))`,
              message: 'src/api loads connectors only through src/connectors/all.ts.',
            },
          ],
        },
      ],
    },
  },
  {
    // src/connectors/all.ts only loads the connectors beside it.
    files: ['src/connectors/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: up(1), message: 'src/connectors/all.ts only loads the connectors beside it.' }] },
      ],
    },
  },
  // The dashboard reads through src/ledger and src/sync and signs in through src/api; never a connector or the CLI.
  ...layer(
    'src/web',
    1,
    (n) => [
      {
        regex: `${up(n)}(?:connectors|cli)/`,
        message:
          'src/web reaches data through src/ledger and src/sync (as the API does), never a connector or the CLI.',
      },
    ],
    [],
    '{ts,tsx}',
  ),
  ...layer('src/connectors/*', 2, connectorPatterns(['domain', 'db', 'sync'], CONNECTOR), ['src/connectors/ledger/**']),
  // The embedded ledger's connector is the one that may use src/ledger.
  ...layer(
    'src/connectors/ledger',
    2,
    connectorPatterns(['domain', 'db', 'sync', 'ledger'], `${CONNECTOR} (and src/ledger, for the ledger connector)`),
  ),
];

export default tseslint.config(
  { ignores: ['node_modules', 'data', 'coverage', 'dist', '.ci', 'scratch'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      'no-restricted-globals': ['error', { name: 'parseFloat', message: 'Money never passes through a float.' }],
    },
  },
  {
    // Tests read JSON response bodies loosely; production code under src/ stays fully typed.
    files: ['test/**/*.ts', 'bench/**/*.ts', '**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  ...inward,
  {
    files: ['**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    // The dashboard's script runs in the browser.
    files: ['src/web/assets/*.js'],
    languageOptions: {
      globals: {
        window: 'readonly',
        document: 'readonly',
        fetch: 'readonly',
        FormData: 'readonly',
        HTMLFormElement: 'readonly',
        HTMLInputElement: 'readonly',
        Element: 'readonly',
        navigator: 'readonly',
      },
    },
  },
);
