// ESLint flat config: typescript-eslint's type-checked recommended rules for src/ and test/ (the
// project is small: type information costs ~15 s on two cores), plain recommended rules for the
// .mjs scripts and this file. Formatting is prettier's job; no style rules here.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default defineConfig(
  { ignores: ['dist/**', 'node_modules/**', 'test-results/**', 'bench-results/**', 'elements/**'] },
  {
    files: ['src/**/*.ts', 'test/**/*.ts', 'vitest.config.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: { parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname } },
    rules: {
      // A leading underscore marks a parameter or binding that is unused on purpose (callback
      // signatures, destructuring to drop a key).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      // Off: the only control characters in our regexes are the ones we strip on purpose from
      // untrusted hook output and from JUnit text (XML 1.0 forbids them).
      'no-control-regex': 'off',
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Off in tests: they JSON.parse command output and assert on it with expect(); a wrong shape
      // fails the assertion, so typing every parsed document would only add casts.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // Off in tests: fakes are written `async` to satisfy promise-returning APIs (cleanup undos)
      // without awaiting anything.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['scripts/*.mjs', '*.js'],
    extends: [js.configs.recommended],
    languageOptions: { globals: globals.node },
  },
);
