import { expect, type Page } from "@playwright/test";
import { PASSWORD, screenshot, waitForHydration } from "./helpers";
import { Authenticator } from "./totp";

// The steps of two-factor sign-in that several specs take (two-factor, passkeys).

/** From the account page to two-factor on: the password, the secret read off the page, the
 * first code. Answers the authenticator and the ten recovery codes shown. */
export async function enrol(page: Page, shots?: string) {
  await page.goto("/account");
  await page.getByTestId("set-up-two-factor").click();
  await expect(page).toHaveURL(/\/account\/two-factor$/);
  await page.getByLabel("Current password").fill(PASSWORD);
  await page.getByRole("button", { name: "Continue" }).click();
  await expect(page.locator(".qr svg")).toBeVisible();
  await page.getByText("Can't scan it? Type this key instead").click();
  const secret = (await page.getByTestId("totp-secret").textContent())!.trim();
  expect(secret).toMatch(/^[A-Z2-7]{4}( [A-Z2-7]{4})+$/);
  if (shots) await screenshot(page, `${shots}-two-factor-setup`);
  const app = new Authenticator(secret);
  await page.getByLabel("Authentication code").fill(app.freshCode());
  await page.getByRole("button", { name: "Turn on two-factor" }).click();
  await expect(page).toHaveURL(/\/account\/recovery-codes/);
  const codes = await page.getByTestId("recovery-codes").locator("code").allTextContents();
  expect(codes).toHaveLength(10);
  for (const code of codes) expect(code).toMatch(/^[a-z0-9]{5}-[a-z0-9]{5}$/);
  if (shots) await screenshot(page, `${shots}-recovery-codes`);
  return { app, codes };
}

/** The account page's two-factor card. */
export function twoFactorCard(page: Page) {
  return page.locator("section").filter({ has: page.getByRole("heading", { name: "Two-factor authentication", exact: true }) });
}

export async function passwordStep(page: Page, username: string, javascript = true) {
  await page.goto("/login");
  // Typed before hydration, a value can be reset by it.
  if (javascript) await waitForHydration(page);
  await page.getByLabel("Username or email").fill(username);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page).toHaveURL(/\/login\/two-factor/);
  // The password alone signed nobody in.
  await expect(page.getByRole("navigation", { name: "Account" }).getByRole("link", { name: "Sign in" })).toBeVisible();
}

export async function codeStep(page: Page, code: string) {
  await page.getByLabel(/Authentication code|Recovery code/).fill(code);
  await page.getByRole("button", { name: "Verify" }).click();
}

