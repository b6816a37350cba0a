import { defineConfig } from "@playwright/test";
import base from "./playwright.config";

// Two instances and nginx (scripts/multi-instance.sh); the addresses come from the script.
export default defineConfig({
  ...base,
  testDir: "./multi",
  reporter: [["list"]],
  use: { ...base.use, baseURL: process.env.PROXY_URL, ignoreHTTPSErrors: true },
  projects: base.projects?.map((p) => ({ ...p, use: { ...p.use, baseURL: process.env.PROXY_URL, ignoreHTTPSErrors: true } })),
});
