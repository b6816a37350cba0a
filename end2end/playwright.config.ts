import { defineConfig, devices } from "@playwright/test";

// Chromium comes from Debian (`/usr/bin/chromium`): Playwright's own browser download is not
// available on these machines. CHROMIUM_PATH overrides the location.
const chromium = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

// The flags keep a root, headless Chromium quiet on a machine without outside network:
// without the background-networking ones it floods the closed network with connections.
const chromiumArgs = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export default defineConfig({
  testDir: "./tests",
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  // One worker: the journeys share one server and one database; two cores are busy enough.
  workers: 1,
  // A committed `test.only` is never intended: it would run that test alone and pass the run
  // with the rest skipped. Refused on every run, CI or not (a local scripts/test.sh included).
  forbidOnly: true,
  retries: 0,
  reporter: [["list"], ["html", { open: "never", outputFolder: "playwright-report" }]],
  outputDir: "test-results",
  use: {
    baseURL: process.env.BASE_URL ?? "http://localhost:3000",
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    launchOptions: { executablePath: chromium, args: chromiumArgs },
  },
  projects: [
    {
      name: "chromium",
      use: { ...devices["Desktop Chrome"], launchOptions: { executablePath: chromium, args: chromiumArgs } },
    },
  ],
});
