// Lint rules that carry the project's architecture: the one-way module boundaries ARCHITECTURE.md describes
// (lifecycle → sticky → ipc, each area entered only through its index.ts) and no console in src/.
import tseslint from 'typescript-eslint';

const area = (name) => [`../${name}/*`, `!../${name}/index.js`];

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
  {
    files: ['src/ipc/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['../sticky/*', '../lifecycle/*', '../index.js', '../primary.js', '../worker.js'], message: 'ipc/ imports only internal, errors, options and logger.' }] }] },
  },
  {
    files: ['src/sticky/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['../lifecycle/*', ...area('ipc'), '../index.js', '../primary.js', '../worker.js'], message: 'sticky/ must not import lifecycle/, and enters ipc/ only through ipc/index.js.' }] }] },
  },
  {
    files: ['src/lifecycle/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: [...area('ipc'), ...area('sticky'), '../index.js', '../primary.js', '../worker.js'], message: 'lifecycle/ enters ipc/ and sticky/ only through their index.js.' }] }] },
  },
  {
    files: ['src/ops/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['../ipc/*', '../sticky/*', '../lifecycle/*', '../index.js', '../primary.js', '../worker.js'], message: 'ops/ imports only internal, errors, options and logger; the primary hands it what it shows.' }] }] },
  },
  {
    files: ['src/primary.ts', 'src/worker.ts', 'src/listen.ts', 'src/stats-primary.ts', 'src/bus-directory-primary.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['./ipc/*', '!./ipc/index.js', './sticky/*', '!./sticky/index.js', './lifecycle/*', '!./lifecycle/index.js', './ops/*', '!./ops/index.js', './index.js'], message: 'Enter each area through its index.js; nothing imports src/index.ts.' }] }] },
  },
);
