import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Module boundaries (STYLE.md): functions import shared/ only, never another function or the
// gateway; the gateway never imports functions; shared/ imports no component.
const componentImports = (allowed) => ({
  'no-restricted-imports': [
    'error',
    {
      patterns: [
        { group: ['**/functions/**', '../../functions/*'], message: 'stages talk through events, not imports' },
        { group: ['**/gateway/**', '**/gateway'], message: 'only the gateway imports gateway code' },
        { group: ['**/source/**', '**/source'], message: 'the source is its own component' },
        { group: ['**/client/**', '**/client'], message: 'the client is its own component' },
      ].filter((pattern) => !allowed.includes(pattern.message)),
    },
  ],
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.data/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  { files: ['shared/**/*.ts'], rules: componentImports([]) },
  { files: ['functions/**/*.ts'], rules: componentImports([]) },
  { files: ['gateway/**/*.ts'], rules: componentImports(['only the gateway imports gateway code']) },
  { files: ['source/**/*.ts'], rules: componentImports(['the source is its own component']) },
  {
    files: ['test/**/*.ts', '**/*.test.ts', 'scripts/**', 'bench/**', 'client/**', 'bin/**'],
    rules: { 'no-console': 'off', 'no-restricted-imports': 'off' },
  },
);
