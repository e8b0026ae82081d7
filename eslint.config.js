// ESLint (flat config) for every JavaScript file of the repository: the
// package (www/browser, www/node, www/shared), the demo, the CLI, scripts,
// tests and benchmarks. `npm test` runs it with --max-warnings 0.

import js from '@eslint/js';
import globals from 'globals';

export default [
  {
    ignores: ['www/pkg/**', 'bench/.work/**', 'bench/results/**', 'target/**', 'fuzz/**', '**/node_modules/**', 'tests/package/app/dist/**'],
  },
  js.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2024, sourceType: 'module' },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      'no-unused-vars': ['error', { args: 'after-used', argsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-var': 'error',
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  // Browser code: the page API, the workers, the demo, pages the tests load.
  {
    files: ['www/browser/**', 'www/demo/**', 'tests/browser/pages/**', 'tests/package/app/**', 'bench/browser/*.js', 'bench/lib/*.js'],
    languageOptions: { globals: { ...globals.browser, ...globals.worker, SharedWorkerGlobalScope: 'readonly' } },
  },
  // Runs in both: the host loop, errors.
  {
    files: ['www/shared/**'],
    languageOptions: { globals: { ...globals.browser, ...globals.worker, ...globals.node } },
  },
  // Playwright tests and bench drivers: Node code with functions that run
  // in the page (page.evaluate), where the test pages put these globals.
  {
    files: ['tests/browser/**/*.mjs', 'tests/demo/**/*.mjs', 'tests/package/**/*.mjs', 'bench/**/*.mjs'],
    languageOptions: { globals: { ...globals.browser, tabmq: 'readonly', h: 'readonly', mqtt: 'readonly', Paho: 'readonly' } },
  },
  // Node: the Node host, the CLI, scripts, tests and benchmark drivers.
  {
    files: ['www/node/**', 'bin/**', 'scripts/**', 'tests/**/*.mjs', 'bench/**/*.mjs', 'eslint.config.js'],
    languageOptions: { globals: { ...globals.node } },
  },
];
