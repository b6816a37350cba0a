import { expect, type Browser, type Page } from "@playwright/test";
import {
  fillRegistration,
  newClientIp,
  newUser,
  PASSWORD,
  registerInBrowser,
  screenshot,
  signOut,
  test,
  waitForHydration,
  watchConsole,
} from "./helpers";

const NEW_PASSWORD = "a completely new passphrase";
const PHONE_UA =
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";

/** A second browser (its own cookies, address and User-Agent), signed in as `username`. */
async function signInElsewhere(browser: Browser, baseURL: string, username: string, options = {}) {
  const context = await browser.newContext({
    baseURL,
    userAgent: PHONE_UA,
    extraHTTPHeaders: { "X-Forwarded-For": newClientIp() },
    ...options,
  });
  const page = await context.newPage();
  await page.goto("/login");
  await page.getByLabel("Username or email").fill(username);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByTestId("signed-in-as")).toBeVisible();
  return { context, page };
}

/** The password form's "Current password" (the email section above it asks for one too). */
function currentPassword(page: Page) {
  return page
    .locator("section")
    .filter({ has: page.getByRole("heading", { name: "Change password", exact: true }) })
    .getByLabel("Current password");
}

async function fillPasswordChange(page: Page, current: string, next: string) {
  await currentPassword(page).fill(current);
  await page.getByLabel("New password", { exact: true }).fill(next);
  await page.getByLabel("Confirm new password").fill(next);
}

async function openAccount(page: Page) {
  await page.goto("/account");
  await waitForHydration(page);
  await expect(page.getByTestId("session-list")).toBeVisible();
}

test("two browsers: the list shows both, and revoking the other bounces it to /login", async ({ page, browser, baseURL }) => {
  const errors = watchConsole(page);
  const user = newUser("sessions");
  await registerInBrowser(page, user);
  const phone = await signInElsewhere(browser, baseURL!, user.username);

  await openAccount(page);
  const rows = page.getByTestId("session-row");
  await expect(rows).toHaveCount(2);
  await expect(page.locator('[data-testid="session-row"][data-current="true"]')).toContainText("This device");
  await expect(page.locator('[data-testid="session-row"][data-current="false"]')).toContainText("Safari on iPhone");
  await screenshot(page, "account-sessions");

  await page.getByRole("button", { name: /^Sign out Safari on iPhone/ }).click();
  await expect(rows).toHaveCount(1);
  await expect(page.getByTestId("activity-list")).toContainText("Session revoked");

  // The phone's next request finds its session gone.
  await phone.page.goto("/account");
  await expect(phone.page).toHaveURL(/\/login\?next=%2Faccount|\/login\?next=\/account/);
  await phone.context.close();
  expect(errors).toEqual([]);
});

test("change the password with JavaScript: field errors first, then a new session", async ({ page, browser, baseURL }) => {
  const user = newUser("chpw");
  await registerInBrowser(page, user);
  const phone = await signInElsewhere(browser, baseURL!, user.username);
  await openAccount(page);

  // The shared rules run in the browser before anything is sent.
  await page.getByLabel("New password", { exact: true }).fill("short");
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page.locator("#field-current_password-error")).toHaveText("Enter your current password.");
  await expect(page.locator("#field-new_password-error")).toHaveText("Use at least 8 characters.");
  await screenshot(page, "account-password-errors");

  // A wrong current password is the server's answer, next to its field.
  await fillPasswordChange(page, "not my password", NEW_PASSWORD);
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page.locator("#field-current_password-error")).toHaveText("That is not your current password.");

  await currentPassword(page).fill(PASSWORD);
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page.getByText("Your password has been changed.")).toBeVisible();
  // The form is empty again, and does not greet the empty fields with errors.
  await expect(currentPassword(page)).toHaveValue("");
  await expect(page.locator("#field-current_password-error")).toHaveText("");
  await expect(page.getByTestId("session-row")).toHaveCount(1);
  await expect(page.getByTestId("activity-list")).toContainText("Password changed");
  await screenshot(page, "account-password-changed");

  await phone.page.goto("/account");
  await expect(phone.page).toHaveURL(/\/login/);
  await phone.context.close();
});

test("without JavaScript: change the password, sign out the other session", async ({ browser, baseURL }) => {
  const user = newUser("nojs");
  const context = await browser.newContext({
    baseURL,
    javaScriptEnabled: false,
    extraHTTPHeaders: { "X-Forwarded-For": newClientIp() },
  });
  const page = await context.newPage();
  await page.goto("/register");
  await fillRegistration(page, user);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByTestId("signed-in-as")).toBeVisible();
  const phone = await signInElsewhere(browser, baseURL!, user.username);

  await page.goto("/account");
  await fillPasswordChange(page, "not my password", NEW_PASSWORD);
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page.locator("#field-current_password-error")).toHaveText("That is not your current password.");

  await fillPasswordChange(page, PASSWORD, NEW_PASSWORD);
  await page.getByLabel("Keep my other devices signed in").check();
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page).toHaveURL(/\/account\?notice=password-changed$/);
  await expect(page.getByText("Your password has been changed.")).toBeVisible();
  await expect(page.getByTestId("session-row")).toHaveCount(2);

  await page.getByRole("button", { name: "Sign out the other session" }).click();
  await expect(page).toHaveURL(/notice=others-signed-out/);
  await expect(page.getByTestId("session-row")).toHaveCount(1);
  await screenshot(page, "account-nojs");
  await phone.page.goto("/account");
  await expect(phone.page).toHaveURL(/\/login/);
  await phone.context.close();
  await context.close();
});

test("remember me keeps the cookie across browser restarts", async ({ page, context }) => {
  const user = newUser("remember");
  await registerInBrowser(page, user);
  await signOut(page);
  await page.goto("/login");
  await waitForHydration(page);
  await page.getByLabel("Username or email").fill(user.username);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByLabel("Remember me on this device").check();
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByTestId("signed-in-as")).toBeVisible();
  const session = (await context.cookies()).find((c) => c.name.endsWith("gatehouse_session"));
  // A persistent cookie (about 7 days), not one that ends with the browser.
  expect(session!.expires).toBeGreaterThan(Date.now() / 1000 + 6 * 86400);
  await openAccount(page);
  await expect(page.locator('[data-testid="session-row"][data-current="true"]')).toContainText("Remembered");
});

test("delete the account: password and username, then signed out for good", async ({ page }) => {
  const user = newUser("delete");
  await registerInBrowser(page, user);
  await openAccount(page);
  await page.getByText("Delete account").click();
  await page.getByLabel("Your password").fill(PASSWORD);
  await page.getByLabel(/Type your username/).fill("someone else");
  await page.getByRole("button", { name: "Delete my account" }).click();
  await expect(page.locator("#field-confirm_username-error")).toHaveText("Type your username exactly to confirm.");
  await screenshot(page, "account-delete");
  await page.getByLabel(/Type your username/).fill(user.username);
  await page.getByRole("button", { name: "Delete my account" }).click();
  await expect(page.getByText("Your account has been deleted. Goodbye.")).toBeVisible();
  await expect(page.getByRole("navigation", { name: "Account" }).getByRole("link", { name: "Sign in" })).toBeVisible();
  await screenshot(page, "account-deleted");

  await page.goto("/login");
  await waitForHydration(page);
  await page.getByLabel("Username or email").fill(user.username);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByRole("alert")).toContainText("Incorrect username or password");
});

test("someone else's failed sign-ins are one row in the activity log, not fifty", async ({ page, browser, baseURL }) => {
  const user = newUser("guessed");
  await registerInBrowser(page, user);
  // Three wrong passwords from another browser and address (under the 5 free attempts).
  const context = await browser.newContext({ baseURL, extraHTTPHeaders: { "X-Forwarded-For": newClientIp() } });
  const guesser = await context.newPage();
  await guesser.goto("/login");
  await waitForHydration(guesser);
  for (const guess of ["guess number one", "guess number two", "guess number three"]) {
    await guesser.getByLabel("Username or email").fill(user.username);
    await guesser.getByLabel("Password", { exact: true }).fill(guess);
    // Each guess answered before the next (the alert already shows after the first).
    const answered = guesser.waitForResponse((r) => r.url().endsWith("/rpc/login"));
    await guesser.getByRole("button", { name: "Sign in", exact: true }).click();
    expect((await answered).status()).toBe(401);
    await expect(guesser.getByRole("alert")).toContainText("Incorrect username or password");
  }
  await context.close();

  await openAccount(page);
  const failures = page.locator('[data-testid="activity-list"] [data-kind="login.failed"]');
  await expect(failures).toHaveCount(1);
  await expect(failures).toContainText("3 failed sign-ins in a row");
  await expect(failures).toContainText("from 1 address");
  await expect(page.getByTestId("activity-list")).toContainText("Account created");
  await page.getByTestId("activity-list").scrollIntoViewIfNeeded();
  await screenshot(page, "account-activity-folded-failures");
});
