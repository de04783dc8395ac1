import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

// Module boundaries are checked by test/boundaries.test.ts (it resolves every relative import).
export default tseslint.config(
  { ignores: ['dist/**', 'client/dist/**', 'node_modules/**', '.data/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  { languageOptions: { globals: globals.node } },
  {
    // The dashboard's page runs in the browser. Data goes into the page as text only
    // (dashboard/web/dom.ts): payloads and messages are user data.
    files: ['dashboard/web/**/*.ts'],
    ignores: ['**/*.test.ts'],
    languageOptions: { globals: globals.browser },
    rules: {
      'no-restricted-properties': [
        'error',
        { property: 'innerHTML', message: 'user data goes in as text: use dom.ts h()/textContent' },
        { property: 'outerHTML', message: 'user data goes in as text: use dom.ts h()/textContent' },
        { property: 'insertAdjacentHTML', message: 'user data goes in as text: use dom.ts h()/textContent' },
      ],
      'no-restricted-globals': ['error', { name: 'alert', message: 'no native dialogs' }, { name: 'confirm', message: 'use confirmAction (the page dialog)' }],
    },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      'no-console': 'error',
    },
  },
  {
    // A stage's handler reaches Redis and NATS only through the ports of shared/ports.ts, whose
    // implementations type their own failures: its logic stays testable with plain fakes.
    files: ['functions/*/handler.ts', 'functions/worker/gate.ts', 'functions/worker/run-step.ts', 'functions/worker/handlers/**'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['ioredis', '@nats-io/*', '**/shared/redis', '**/shared/nats', '**/shared/redis-stores', '**/shared/status', '**/shared/pub-acks'],
              message: 'handlers use the ports of shared/ports.ts (the stage definition wires the Redis and NATS implementations)',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**', '**/*.test.ts', 'scripts/**', 'bench/**', 'client/**', 'bin/**'],
    rules: { 'no-console': 'off' },
  },
  {
    // A function longer than about 100 lines hides its steps in closures nobody can follow from
    // outside (issue 10): split it into named functions or modules of one job each.
    // Product code only: a test's describe block or a test double may run longer.
    files: ['**/*.ts'],
    ignores: [
      'test/**',
      '**/*.test.ts',
      'client/testing/**',
      'gateway/test-support/**',
    ],
    rules: { 'max-lines-per-function': ['error', { max: 100, skipBlankLines: true, skipComments: true }] },
  },
);
