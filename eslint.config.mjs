// @ts-check
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/** Node's CommonJS globals, for the few plain .js files (bin/ launcher etc.). */
const nodeGlobals = {
  require: 'readonly',
  module: 'writable',
  exports: 'writable',
  __dirname: 'readonly',
  __filename: 'readonly',
  process: 'readonly',
  console: 'readonly',
  Buffer: 'readonly',
  setTimeout: 'readonly',
  clearTimeout: 'readonly',
};

/** The engine's rooms, lowest floor first: each imports only rooms before it in this list. */
const ENGINE_ROOMS = ['common', 'model', 'protocol', 'text', 'compute', 'io', 'inference', 'training', 'probes', 'export', 'host'];

export default defineConfig(
  {
    ignores: [
      'out/',
      'dist/',
      'node_modules/',
      'bench/results/',
      'native/build/',
      'native/wasm/', // emscripten's generated glue
      'test/reference/',
      // Tool config files at the root (webpack.config.js, this file, ...).
      '*.js',
      '*.mjs',
      '*.cjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        // Each file is checked with its nearest tsconfig.json
        // (engine/, extension/, webviews/, test/).
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // tfjs idiom: `tf.reshape(x, [B, T, D]) as tf.Tensor3D`. tfjs ops are generic in their
      // result rank, so TS infers the rank from the assertion itself and this rule calls the
      // cast "unnecessary" (asking for `tf.reshape<Rank.R3>(...)` instead). Exempt only the
      // tfjs rank casts; the rule stays on for everything else.
      '@typescript-eslint/no-unnecessary-type-assertion': [
        'error',
        {
          typesToIgnore: ['tf.Scalar', 'tf.Tensor', 'tf.Tensor1D', 'tf.Tensor2D', 'tf.Tensor3D', 'tf.Tensor4D'],
        },
      ],
      // node:test's test()/describe() return promises that the runner itself tracks.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] },
          ],
        },
      ],
      // Allow deliberately unused parameters/variables when prefixed with `_`.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
      ],
    },
  },
  // Layers: the engine never imports the editor or the webviews; the extension reaches the engine only through its
  // public entry (so tfjs never enters the extension bundle); webviews take from the engine only its protocol room.
  // Inside the engine, rooms are floors: a room imports only the rooms below it (ENGINE_ROOMS, lowest first).
  ...ENGINE_ROOMS.map((room, floor) => ({
    files: [`engine/${room}/**/*.ts`],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        paths: [{ name: 'vscode', message: 'engine/ runs outside VS Code.' }],
        patterns: [
          { group: ['**/extension/**', '**/webviews/**'], message: 'engine/ imports neither the extension nor the webviews.' },
          ...ENGINE_ROOMS.slice(floor + 1).map((above) => ({
            group: [`../${above}`, `../${above}/**`, `**/engine/${above}/**`],
            message: `engine/${room} sits below engine/${above} (floors: ${ENGINE_ROOMS.join(' < ')}); move the shared piece down instead.`,
          })),
        ],
      }],
    },
  })),
  {
    files: ['engine/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        paths: [{ name: 'vscode', message: 'engine/ runs outside VS Code.' }],
        patterns: [{ group: ['**/extension/**', '**/webviews/**'], message: 'engine/ imports neither the extension nor the webviews.' }],
      }],
    },
  },
  {
    files: ['extension/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [
          { group: ['**/engine/*', '!**/engine/index'], message: 'the extension imports only the engine\'s public entry (../engine).' },
          { group: ['@tensorflow/*'], message: 'tfjs runs in the engine process, never in the extension host.' },
        ],
      }],
    },
  },
  {
    files: ['webviews/**/*.ts'],
    ignores: ['webviews/shared/d3.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [
          { regex: '^(\\.\\./)+engine(/(?!protocol(/|$)).*)?$',
            message: 'webviews take only the protocol room (plain data and guards) from the engine.' },
          { regex: '^d3(-[a-z-]+)?$', message: 'webviews import d3 one way: `import * as d3 from \'../shared/d3\'`.' },
        ],
        paths: [{ name: 'vscode', message: 'webviews are front-end bundles.' }],
      }],
    },
  },
  {
    // Plain JavaScript (e.g. bin/gpt-lab.js, scripts/, bench/): no type information,
    // CommonJS, Node globals.
    files: ['**/*.js', '**/*.cjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { sourceType: 'commonjs', globals: nodeGlobals },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { sourceType: 'module', globals: nodeGlobals },
  },
);
