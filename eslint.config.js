import tseslint from 'typescript-eslint';
import svelte from 'eslint-plugin-svelte';
import prettier from 'eslint-config-prettier';

// The rules every TypeScript source obeys, .svelte components included (their <script lang="ts">
// and template expressions are type-checked through svelte-eslint-parser).
const typedRules = {
  '@typescript-eslint/no-floating-promises': 'error',
  '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
  '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
  'no-empty': ['error', { allowEmptyCatch: false }],
};

// Svelte's rule sets name no files for their rules: keep them on Svelte sources (on CommonJS
// bin/*.js, ESLint 10's no-inner-declarations, which svelte wraps, throws).
const SVELTE_FILES = ['**/*.svelte', '**/*.svelte.ts', '**/*.svelte.js'];
const forSvelte = (configs) => configs.map((c) => (c.files ? c : { ...c, files: SVELTE_FILES }));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/results/**', 'test-results/**', 'web/**/*.js'] },
  ...tseslint.configs.recommended,
  ...forSvelte(svelte.configs.recommended),
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: typedRules,
  },
  {
    // Components and runes modules: svelte-eslint-parser hands the script to typescript-eslint's parser.
    files: SVELTE_FILES,
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
        extraFileExtensions: ['.svelte'],
        parser: tseslint.parser,
      },
    },
    rules: {
      ...typedRules,
      // A SvelteKit rule (links through $app/paths' resolve()); this app routes by hash itself.
      'svelte/no-navigation-without-resolve': 'off',
      // Reactive collections here are immutable values in $state.raw, replaced whole
      // (`this.presence = new Map(...)`); every other Map, Set or Date is a temporary inside a
      // $derived or deliberately untracked bookkeeping (FleetState's #busy). SvelteMap there would
      // add tracking, and writes to tracked state from inside a derived or effect would throw.
      'svelte/prefer-svelte-reactivity': 'off',
      // A mustache is how an attribute holds a newline or quotes (placeholder={'one "two words"'}):
      // a single-quoted attribute instead is rewritten by prettier-plugin-svelte 4.1 into broken markup.
      'svelte/no-useless-mustaches': 'off',
    },
  },
  {
    // The command entry points are CommonJS (bin/package.json): they start faster (bin/flotilla.js).
    files: ['bin/**/*.js'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  // Last: formatting is Prettier's job, so no rule here may fight it.
  prettier,
  ...forSvelte(svelte.configs.prettier),
);
