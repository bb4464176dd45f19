// ESLint (flat config) with typescript-eslint's recommended rules, without type information (fast enough to run in
// `npm test` on two cores). Formatting is Prettier's job (`npm run format`), not ESLint's.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "models/generated/", "native/build/", "bench/anchor/.cache/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: { process: "readonly", Buffer: "readonly", console: "readonly", URL: "readonly" } },
    rules: {
      "no-duplicate-imports": ["error", { allowSeparateTypeImports: true }],
      eqeqeq: ["error", "always", { null: "ignore" }],
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
    },
  },
);
