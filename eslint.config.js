// @ts-check
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/**
 * A small rule set: ESLint's and typescript-eslint's recommended rules, promises that are neither awaited nor
 * handled, type-only imports spelled as such, and strict equality. Type-aware, over src/ and test/ alike
 * (tsconfig.test.json).
 */

export default tseslint.config(
  { ignores: ["dist/", "node_modules/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { project: "./tsconfig.test.json", tsconfigRootDir: dirname(fileURLToPath(import.meta.url)) },
    },
    rules: {
      // node:test's test/describe/it return promises the runner itself awaits.
      "@typescript-eslint/no-floating-promises": ["error", { allowForKnownSafeCalls: [{ from: "package", package: "node:test", name: ["test", "it", "describe", "suite"] }] }],
      "@typescript-eslint/no-misused-promises": ["error", { checksVoidReturn: false }],
      // `typeof import("x")` types a module loaded lazily (a heavy SDK) without loading it.
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports", disallowTypeAnnotations: false }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none", ignoreRestSiblings: true }],
      // A closure may read a variable that is assigned later (a handler set up before what it stops exists).
      "prefer-const": ["error", { ignoreReadBeforeAssign: true }],
      eqeqeq: ["error", "always", { null: "ignore" }],
    },
  },
  // Tests read response bodies (Status, lists, token answers) as loosely as a user of the API would.
  { files: ["test/**/*.ts"], rules: { "@typescript-eslint/no-explicit-any": "off" } },
  {
    files: ["**/*.js", "**/*.mjs"],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, globals: { process: "readonly", console: "readonly", Buffer: "readonly", URL: "readonly" } },
  },
);
