import { defineConfig } from "@playwright/test";
import base from "./playwright.config";

// The development check (scripts/watch-check.sh): one browser against `cargo leptos watch`
// running in a scratch copy of the repository. Kept out of ./tests so the normal
// `npx playwright test` never picks it up. The script passes WATCH_BASE_URL and WATCH_CHECK_DIR.
const minutes = (name: string, fallback: number) => Number(process.env[name] ?? fallback) * 60_000;

export default defineConfig({
  ...base,
  testDir: "./watch",
  // Also set by the base config; repeated so no edit there can turn it off here (see there).
  forbidOnly: true,
  // A Rust edit means a debug rebuild of the server and the wasm bundle: minutes on 2 busy cores.
  timeout: minutes("WATCH_CHECK_TEST_MINUTES", 20),
  reporter: [["list"]],
  outputDir: "test-results/watch",
  use: { ...base.use, baseURL: process.env.WATCH_BASE_URL },
  projects: base.projects?.map((p) => ({ ...p, use: { ...p.use, baseURL: process.env.WATCH_BASE_URL } })),
});
