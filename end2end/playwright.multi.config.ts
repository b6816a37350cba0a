import { defineConfig } from "@playwright/test";
import base from "./playwright.config";

// Two instances and nginx (scripts/multi-instance.sh); the addresses come from the script.
export default defineConfig({
  ...base,
  testDir: "./multi",
  // Also set by the base config; repeated so no edit there can turn it off here (see there).
  forbidOnly: true,
  reporter: [["list"]],
  use: { ...base.use, baseURL: process.env.PROXY_URL, ignoreHTTPSErrors: true },
  projects: base.projects?.map((p) => ({ ...p, use: { ...p.use, baseURL: process.env.PROXY_URL, ignoreHTTPSErrors: true } })),
});
