// Lint rules that carry the project's architecture: the one-way module boundaries (lifecycle → sticky →
// ipc; options, internal and the routing model at the bottom; each area, and each folder of sticky/,
// entered only through its index.ts; see ARCHITECTURE.md) and no console in src/.
import tseslint from 'typescript-eslint';

const area = (name) => [`../${name}/*`, `!../${name}/index.js`];
/** From src/sticky/*.ts into one of its folders, or from one sticky folder into its sibling. */
const inner = (name) => [`./${name}/*`, `!./${name}/index.js`];
const sibling = (name) => [`../${name}/*`, `!../${name}/index.js`];
/** From a folder inside an area (src/sticky/planes/) to another area. */
const deep = (names) => names.map((name) => `../../${name}/*`);
const deepArea = (name) => [`../../${name}/*`, `!../../${name}/index.js`];
const AREAS = ['ipc', 'sticky', 'lifecycle', 'ops', 'cli', 'options'];
const ROOTS = ['../index.js', '../primary.js', '../worker.js', '../listen.js'];
const DEEP_ROOTS = ['../../index.js', '../../primary.js', '../../worker.js', '../../listen.js'];

export default tseslint.config(
  { ignores: ['dist/**', '.docs-snippets-*/**', 'node_modules/**', 'bench/**', 'examples/**', 'coverage/**', 'types-test/**'] },
  ...tseslint.configs.recommended,
  // `const { dropped: _x, ...rest } = value` is how a test leaves a key out.
  { rules: { '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }] } },
  {
    files: ['src/**/*.ts'],
    rules: {
      'no-console': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  // The line limit of the style guide (120), everywhere in the source.
  // TODO(eslint>=11): max-len leaves ESLint core; take @stylistic/max-len then.
  {
    files: ['src/**/*.ts'],
    rules: { 'max-len': ['error', { code: 120, ignoreUrls: true }] },
  },
  {
    files: ['src/internal/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: [...AREAS.map((name) => `../${name}/*`), ...ROOTS], message: 'internal/ holds domain-free helpers: it imports no area.' }] }] },
  },
  {
    files: ['src/options/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['../ipc/*', '../sticky/*', '../lifecycle/*', '../ops/*', '../cli/*', ...ROOTS], message: 'options/ imports only internal, errors and logger.' }] }] },
  },
  {
    files: ['src/ipc/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['../sticky/*', '../lifecycle/*', ...area('options'), ...ROOTS], message: 'ipc/ imports only internal, errors, options (its index.js) and logger.' }] }] },
  },
  {
    files: ['src/sticky/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['../lifecycle/*', ...area('ipc'), ...area('options'), ...inner('routing'), ...inner('planes'), ...ROOTS], message: 'sticky/ must not import lifecycle/; it enters ipc/, options/, sticky/routing/ and sticky/planes/ only through their index.js.' }] }] },
  },
  {
    files: ['src/sticky/routing/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['../planes/*', '../*-primary.js', ...deep(['lifecycle', 'ops', 'cli']), ...deepArea('ipc'), ...deepArea('options'), ...DEEP_ROOTS], message: 'The routing model belongs to no plane and to no side: it imports no plane, no primary-side sticky file, and enters other areas through their index.js.' }] }] },
  },
  {
    files: ['src/sticky/planes/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: [...sibling('routing'), ...deep(['lifecycle', 'ops', 'cli']), ...deepArea('ipc'), ...deepArea('options'), ...DEEP_ROOTS], message: 'A plane enters the routing model, ipc/ and options/ only through their index.js, and never lifecycle/.' }] }] },
  },
  {
    files: ['src/lifecycle/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: [...area('ipc'), ...area('sticky'), ...area('options'), ...ROOTS], message: 'lifecycle/ enters ipc/, sticky/ and options/ only through their index.js.' }] }] },
  },
  {
    files: ['src/ops/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['../ipc/*', '../sticky/*', '../lifecycle/*', ...area('options'), ...ROOTS], message: 'ops/ imports only internal, errors, options and logger; the primary hands it what it shows.' }] }] },
  },
  {
    files: ['src/cli/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: [...area('ipc'), ...area('sticky'), ...area('lifecycle'), ...area('ops'), ...area('options'), '../index.js'], message: 'cli/ enters each area through its index.js; nothing imports src/index.ts.' }] }] },
  },
  {
    files: ['src/socket-io/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: [...area('ipc'), ...area('lifecycle'), ...area('options'), '../sticky/*', '../ops/*', '../cli/*', ...ROOTS], message: 'socket-io/ (the `sticky-runtime/socket.io` entry) enters ipc/, lifecycle/ and options/ through their index.js, and nothing else of the runtime.' }] }] },
  },
  {
    files: ['src/primary.ts', 'src/worker.ts', 'src/listen.ts', 'src/stats-primary.ts', 'src/bus-directory-primary.ts', 'src/app-server.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['./ipc/*', '!./ipc/index.js', './sticky/*', '!./sticky/index.js', './lifecycle/*', '!./lifecycle/index.js', './ops/*', '!./ops/index.js', './options/*', '!./options/index.js', './index.js'], message: 'Enter each area through its index.js; nothing imports src/index.ts.' }] }] },
  },
);
