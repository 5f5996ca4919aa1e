// Krypton's ESLint configuration (flat config). The repository root's
// eslint.config.js re-exports it, so the plugins resolve from this workspace,
// where typescript-eslint finds the TypeScript 6 compiler API it needs.
// Import cycles are dependency-cruiser's job (.dependency-cruiser.cjs): it
// counts type-only imports, which ESLint's import plugins skip.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export default tseslint.config(
  {
    ignores: ['**/node_modules/**', '**/dist/**', 'build/**', 'native/fuzz/out/**', 'bench/results/**', '.krypton/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: {
        // The first project that holds a file types it: the service's own
        // settings for src/ and bench/, the client package's for its sources,
        // then the test settings (which also reach what tests import).
        project: [
          './tsconfig.json',
          './packages/client/tsconfig.json',
          './examples/tsconfig.json',
          './tsconfig.test.json',
        ],
        tsconfigRootDir: root,
      },
    },
    rules: {
      // Every promise is awaited, returned, or handed to a handler that
      // logs: a dropped rejection in a key service is a silent failure.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // `any` turns the type checker off; none may flow into typed code.
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unsafe-argument': 'error',
      '@typescript-eslint/no-unsafe-assignment': 'error',
      '@typescript-eslint/no-unsafe-call': 'error',
      '@typescript-eslint/no-unsafe-member-access': 'error',
      '@typescript-eslint/no-unsafe-return': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // An async function without await still turns a throw into a
      // rejection and still fits an interface that returns a promise;
      // dropping its async would change what callers see.
      '@typescript-eslint/require-await': 'off',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  {
    // A reader holds a function whole: none in the service over 80 lines.
    files: ['src/**/*.ts'],
    rules: {
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true, IIFEs: true }],
    },
  },
  {
    // Scripts and configuration in plain JavaScript: no type information.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  prettier,
  {
    // Prettier wraps code to 120 columns but never comments; long strings stay whole so error messages can be grepped.
    files: ['**/*.ts', '**/*.js', '**/*.mjs', '**/*.cjs'],
    rules: {
      'max-len': [
        'error',
        {
          code: 120,
          tabWidth: 2,
          ignoreUrls: true,
          ignoreStrings: true,
          ignoreTemplateLiterals: true,
          ignoreRegExpLiterals: true,
        },
      ],
    },
  },
);
