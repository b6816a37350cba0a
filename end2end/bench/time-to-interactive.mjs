// Time to interactive: from the start of navigation to the `gatehouse:hydrated` performance
// mark (set by the bundle once it has hydrated the page: src/lib.rs), over N first visits
// (a new browser context each, so nothing is cached), on loopback and through a throttled
// network (Chrome DevTools Protocol: 1.6 Mbps down, 750 kbps up, 150 ms round trip, the
// "slow 4G" of Lighthouse). Prints a Markdown table; asserts nothing.
//
//   node bench/time-to-interactive.mjs http://localhost:3000/login [runs=10]
//
// Run from end2end/ (it uses the Playwright and Chromium of the end-to-end tests), against a
// release build: benches/load.sh runs it after its load scenarios.
import { chromium } from "@playwright/test";

const [url, runsArg] = process.argv.slice(2);
if (!url) {
  console.error("usage: node bench/time-to-interactive.mjs URL [runs]");
  process.exit(2);
}
const runs = Number(runsArg ?? 10);

const profiles = [
  { name: "loopback", network: null },
  {
    name: "1.6 Mbps / 150 ms RTT",
    network: { offline: false, latency: 150, downloadThroughput: 1.6e6 / 8, uploadThroughput: 750e3 / 8 },
  },
];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
});

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

console.log(`Time to interactive of ${url}, median of ${runs} first visits (min–max):\n`);
console.log("| network | first byte of the page | hydrated (interactive) | bytes transferred |");
console.log("|---|---|---|---|");
for (const profile of profiles) {
  const firstByte = [];
  const hydrated = [];
  let transferred = 0;
  for (let run = 0; run < runs; run++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    if (profile.network) {
      const cdp = await context.newCDPSession(page);
      await cdp.send("Network.enable");
      await cdp.send("Network.emulateNetworkConditions", profile.network);
    }
    await page.goto(url, { waitUntil: "commit" });
    await page.locator("html[data-hydrated]").waitFor({ state: "attached", timeout: 60_000 });
    const timing = await page.evaluate(() => {
      const [navigation] = performance.getEntriesByType("navigation");
      const [mark] = performance.getEntriesByName("gatehouse:hydrated");
      const resources = performance.getEntriesByType("resource");
      return {
        firstByte: navigation.responseStart,
        hydrated: mark.startTime,
        bytes: navigation.transferSize + resources.reduce((sum, r) => sum + r.transferSize, 0),
      };
    });
    firstByte.push(timing.firstByte);
    hydrated.push(timing.hydrated);
    transferred = timing.bytes;
    await context.close();
  }
  const ms = (values) =>
    `${median(values).toFixed(0)} ms (${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)})`;
  console.log(`| ${profile.name} | ${ms(firstByte)} | ${ms(hydrated)} | ${transferred.toLocaleString("en")} B |`);
}
await browser.close();
