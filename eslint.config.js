// Baton's linter: correctness rules, the shape rules (file and function length) and the layering of
// src/, checked by `npm run lint` in the test command (scripts/test.sh), so CI holds the code to them.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The layers of src/, lowest first. A module may import its own folder and any lower layer, never its
 * own layer's other folders or a higher layer, so dependencies point one way: from the command line
 * down to the adapters and the shared base.
 */
const LAYERS = [
  // Shared words: errors, polling, printable text, the configuration's types, the Host type.
  ['base'],
  // Commands as data (the `sh` template, docker builders) and what a host is to a task.
  ['remote'],
  // The adapters: AWS services and the SSH transport.
  ['aws', 'ssh'],
  ['secrets'],
  ['config', 'inventory', 'events'],
  // One module per kind of change a run makes, and how it is undone.
  ['changes'],
  ['state', 'report', 'playbook'],
  // The executor: plan, batches, guards, recover.
  ['rollout'],
  ['cli'],
];
/** Files of the base layer that live in other layers' folders. */
const BASE_FILES = ['config/types.ts', 'inventory/host.ts'];

const rank = (folder) => LAYERS.findIndex((layer) => layer.includes(folder));
const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `quote` belongs to the `sh` template: anything else building shell text by hand is refused. */
const QUOTE_ONLY_IN_SHELL = {
  regex: '(^|/)shell(\\.ts)?$',
  importNames: ['quote'],
  message: 'build shell text with the sh template (src/remote/shell.ts), which quotes every value itself',
};

/** The import patterns a folder of src/ may not use: every folder of its own layer or above. */
function layerRule(folder) {
  const own = rank(folder);
  const above = LAYERS.flat().filter((f) => f !== 'base' && f !== folder && rank(f) >= own);
  const baseFiles = BASE_FILES.map((f) => `(?!${escape(f.split('/')[1])}$)`);
  const patterns = above.map((f) => ({
    // A folder's base files (config/types.ts) stay importable from below.
    regex: `(^|/)${f}/${baseFiles.filter((_, i) => BASE_FILES[i].startsWith(`${f}/`)).join('')}`,
    message: `${folder === 'base' ? 'a base file' : `src/${folder}/`} is in layer ${own} of eslint.config.js; src/${f}/ is in layer ${rank(f)}: import only from lower layers`,
  }));
  return ['error', { patterns: [...patterns, QUOTE_ONLY_IN_SHELL] }];
}

const folders = LAYERS.flat().filter((f) => f !== 'base');

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.fleet/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      // Terminal escapes and control characters are matched on purpose (printable text, TTY output).
      'no-control-regex': 'off',
      // A variable a closure reads before its one assignment (a callback set up first) stays `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' } },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/**/*.test.ts'],
    rules: {
      'max-lines': ['error', { max: 300, skipBlankLines: true, skipComments: true }],
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
      'no-restricted-imports': layerRule('base'),
    },
  },
  ...folders.map((folder) => ({
    files: [`src/${folder}/**/*.ts`],
    ignores: ['src/**/*.test.ts', ...BASE_FILES.map((f) => `src/${f}`)],
    rules: { 'no-restricted-imports': layerRule(folder) },
  })),
  {
    // The public API for playbooks: the top, with the command line.
    files: ['src/index.ts'],
    rules: { 'no-restricted-imports': layerRule('cli') },
  },
  {
    files: ['src/remote/shell.ts', 'src/remote/shell.test.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
);
