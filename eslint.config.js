// Type-aware lint: the rules that catch real bugs in async service code.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // test/fixtures/openapi-client is type-checked by its test, against types generated while it runs.
  { ignores: ['node_modules/**', '**/dist/**', 'build/**', 'test-artifacts/**', 'coverage/**', 'bin/**', 'eslint.config.js', 'test/fixtures/openapi-client/**'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      // Port implementations are async by contract even when a backend answers synchronously.
      '@typescript-eslint/require-await': 'off',
    },
  },
  // Plain JavaScript run by npm before anything is built (packages/sdk/scripts): linted without types.
  { files: ['**/*.mjs'], ...tseslint.configs.disableTypeChecked },
  // Browser scripts served as they are by the pages (src/pages/assets): linted without types.
  { files: ['src/pages/assets/**/*.js'], ...tseslint.configs.disableTypeChecked },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
);
