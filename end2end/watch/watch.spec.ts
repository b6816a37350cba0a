// The development loop, as a developer meets it: `cargo leptos watch` (started by
// scripts/watch-check.sh in a scratch copy of the repository), a browser on the register page,
// then an edit to the stylesheet and an edit to a component. It checks that
//   - a style edit is swapped into the open page without a reload;
//   - a Rust edit rebuilds server and wasm, reloads the page by itself, and the reloaded page
//     has the new HTML *and* runs the new wasm (a text only the browser renders changes too),
//     hydrates, validates in the browser, and logs no console error.
// The files edited are the scratch copy's, never the repository's.
import { test, expect, type Page } from "@playwright/test";
import * as fs from "node:fs";
import * as path from "node:path";

const dir = process.env.WATCH_CHECK_DIR;
const minutes = (name: string, fallback: number) => Number(process.env[name] ?? fallback) * 60_000;
// A style edit is a lightningcss run: seconds. A Rust edit is a debug rebuild of both halves.
const STYLE_TIMEOUT = minutes("WATCH_CHECK_STYLE_MINUTES", 2);
const REBUILD_TIMEOUT = minutes("WATCH_CHECK_REBUILD_MINUTES", 15);

// Distinct per run, so a stale file from an earlier run can never pass for this one.
const token = `wc${Date.now().toString(36)}`;
const EDITED_COLOR = "rgb(200, 0, 120)";

/** Replaces `from` by `to` in a scratch file; fails loudly if the text to edit has moved. */
function edit(file: string, from: string, to: string) {
  const full = path.join(dir!, file);
  const text = fs.readFileSync(full, "utf8");
  if (!text.includes(from)) {
    throw new Error(`watch check: ${file} no longer contains ${JSON.stringify(from)}; update end2end/watch/watch.spec.ts`);
  }
  fs.writeFileSync(full, text.replace(from, to));
}

/** In the page, or "navigating" while a reload swaps the document. */
async function inPage<T>(page: Page, fn: () => T): Promise<T | "navigating"> {
  try {
    return await page.evaluate(fn);
  } catch {
    return "navigating";
  }
}

const headingColor = (page: Page) =>
  inPage(page, () => getComputedStyle(document.getElementById("register-title")!).color);

// How many live-reload sockets this document has opened (see addInitScript below).
const liveReloadOpen = (page: Page) => inPage(page, () => (window as any).__liveReloadOpen === true);

test("cargo leptos watch: styles hot-swap, Rust edits rebuild and reload", async ({ page }) => {
  expect(dir, "WATCH_CHECK_DIR (set by scripts/watch-check.sh)").toBeTruthy();

  // Console errors and page errors fail the check, and so does the live-reload script's
  // "CSS hot-reload: Could not find a <link …>" warning (its "Live-reload disconnected" warning
  // is expected: the socket closes as the page reloads).
  const errors: string[] = [];
  const reloadWarnings: string[] = [];
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(msg.text());
    if (msg.type() === "warning" && /CSS hot-reload/.test(msg.text())) reloadWarnings.push(msg.text());
  });
  page.on("pageerror", (err) => errors.push(err.message));

  // Marks each document once its live-reload socket is open, so edits are made only when the
  // page can hear about them. Init scripts run in every new document, before the page's own.
  await page.addInitScript(() => {
    const Native = window.WebSocket;
    class Watched extends Native {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols);
        if (String(url).endsWith("/live_reload")) {
          this.addEventListener("open", () => ((window as any).__liveReloadOpen = true));
        }
      }
    }
    window.WebSocket = Watched;
  });

  await page.goto("/register");
  const reveal = page.locator("button.reveal").first();
  await expect(reveal, "the page hydrates").toBeVisible({ timeout: 60_000 });
  // The starting point is the unedited code on both sides (server HTML, then the wasm).
  await expect(reveal).toHaveText(/^Show\s*password$/);
  await reveal.click();
  await expect(reveal).toHaveText(/^Hide\s*password$/);
  await reveal.click();
  // Development assets are not content-hashed (LEPTOS_HASH_FILES=false), so the live reload
  // can find the stylesheet by its name.
  await expect(page.locator('link[rel="stylesheet"]')).toHaveAttribute("href", "/pkg/gatehouse.css");
  await expect.poll(() => liveReloadOpen(page), { timeout: 30_000, message: "live-reload socket opens" }).toBe(true);
  expect(await headingColor(page)).not.toBe(EDITED_COLOR);

  await test.step("a style edit is swapped in without a reload", async () => {
    await page.evaluate(() => ((window as any).__watchCheckMarker = "before the style edit"));
    fs.appendFileSync(path.join(dir!, "style/main.css"), `\n/* ${token} */\n.card h1 { color: ${EDITED_COLOR}; }\n`);
    await expect.poll(() => headingColor(page), { timeout: STYLE_TIMEOUT, message: "the edited style applies" }).toBe(EDITED_COLOR);
    expect(await page.evaluate(() => (window as any).__watchCheckMarker), "same document: no reload").toBe("before the style edit");
    await expect(page.locator('link[rel="stylesheet"]')).toHaveAttribute("href", /^\/pkg\/gatehouse\.css\?version=\d+$/);
  });

  await test.step("a component edit rebuilds, reloads, hydrates with the new wasm", async () => {
    // The reveal toggle's labels: the server renders "Show…", only the browser renders "Hide…".
    // So "Hide <token>" appears only if the reloaded page runs the *new* wasm bundle.
    edit("src/app/components/field.rs", '{ "Hide" } else { "Show" }', `{ "Hide ${token}" } else { "Show ${token}" }`);
    await expect
      .poll(async () => await inPage(page, () => (window as any).__watchCheckMarker ?? "reloaded"), {
        timeout: REBUILD_TIMEOUT,
        intervals: [1_000],
        message: "the page reloads by itself after the rebuild",
      })
      .toBe("reloaded");
    await page.waitForLoadState("load");

    await expect(reveal, "the reloaded page hydrates").toBeVisible({ timeout: 60_000 });
    await expect(reveal, "new server HTML").toContainText(`Show ${token}`);
    await reveal.click();
    await expect(reveal, "new wasm in the browser").toContainText(`Hide ${token}`);

    // Browser-side validation reacts: the hydrated form checks the field as the person leaves it.
    const email = page.getByLabel("Email");
    await email.fill("not-an-email");
    await email.blur();
    await expect(page.locator("#field-email-error")).toHaveText("Enter an email address like name@example.com.");

    // The stylesheet loaded by the reloaded page is the edited one, not a cached copy.
    expect(await headingColor(page)).toBe(EDITED_COLOR);
    await expect.poll(() => liveReloadOpen(page), { timeout: 30_000, message: "live-reload socket reopens" }).toBe(true);
    fs.mkdirSync("screenshots", { recursive: true });
    await page.screenshot({ path: "screenshots/watch-after-reload.png", fullPage: true });
  });

  expect(reloadWarnings, "live-reload warnings").toEqual([]);
  expect(errors, "console errors").toEqual([]);
});
