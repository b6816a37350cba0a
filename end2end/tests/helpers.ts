import { test as base, expect, type Page } from "@playwright/test";

/** A made-up client address per test. The e2e server trusts 127.0.0.1 as a proxy
 * (TRUSTED_PROXIES), so each test is its own client for the per-IP rate limits, as real
 * visitors behind a load balancer would be. */
export function newClientIp(): string {
  const octet = () => Math.floor(Math.random() * 250) + 1;
  return `198.18.${octet()}.${octet()}`;
}

export const test = base.extend({
  extraHTTPHeaders: async ({}, use) => {
    await use({ "X-Forwarded-For": newClientIp() });
  },
});

export const PASSWORD = "correct horse battery staple";

/** A fresh identity per test, so runs never collide in a reused database. */
export function newUser(prefix = "user") {
  const id = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
  return { username: `${prefix}_${id}`.slice(0, 50), email: `${prefix}.${id}@example.com` };
}

/** Collects console errors and uncaught exceptions; tests assert it stays empty. */
export function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(msg.text());
  });
  page.on("pageerror", (err) => errors.push(err.message));
  return errors;
}

/** The show/hide password toggle stays hidden until the wasm bundle has hydrated the page. */
export async function waitForHydration(page: Page) {
  // Generous: a debug-build bundle on a busy 2-core machine can take a while to compile.
  await expect(page.locator("button.reveal").first()).toBeVisible({ timeout: 30_000 });
}

export async function fillRegistration(page: Page, user: { username: string; email: string }, password = PASSWORD) {
  await page.getByLabel("Email").fill(user.email);
  await page.getByLabel("Username").fill(user.username);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByLabel("Confirm password").fill(password);
}

/** Registers `user` through the hydrated form and waits until the home page greets them. */
export async function registerInBrowser(page: Page, user: { username: string; email: string }) {
  await page.goto("/register");
  await waitForHydration(page);
  await fillRegistration(page, user);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByTestId("signed-in-as")).toBeVisible();
}

export async function signOut(page: Page) {
  await page.getByRole("button", { name: "Sign out" }).first().click();
  await expect(page.getByRole("navigation", { name: "Account" }).getByRole("link", { name: "Sign in" })).toBeVisible();
}

export async function screenshot(page: Page, name: string) {
  await page.screenshot({ path: `screenshots/${name}.png`, fullPage: true });
}
