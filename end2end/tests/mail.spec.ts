import { expect, type Page } from "@playwright/test";
import {
  fillRegistration,
  newUser,
  PASSWORD,
  registerInBrowser,
  screenshot,
  signOut,
  test,
  waitForHydration,
  watchConsole,
} from "./helpers";
import { linkIn, nextMail, type Mail } from "./mailbox";

// Every mail here goes through a real SMTP server (aiosmtpd, started by scripts/test.sh) into
// a Maildir that ./mailbox reads. BASE_URL is the server with EMAIL_VERIFICATION=optional,
// BASE_URL_REQUIRED the one with `required`; both send to the same SMTP server.
const REQUIRED_URL = process.env.BASE_URL_REQUIRED ?? "http://localhost:3101";
const NEW_PASSWORD = "a completely new passphrase";

const SUBJECT = {
  reset: "Reset your Gatehouse password",
  passwordChanged: "Your Gatehouse password was changed",
  verify: "Confirm your email address for Gatehouse",
  signUpAttempt: "Someone tried to sign up with your email address",
  confirmNewAddress: "Confirm your new email address for Gatehouse",
  addressChanged: "Your Gatehouse email address was changed",
};

// Each test goes through the mail queue and SMTP two to four times (nextMail waits up to 15 s
// for each) on top of several page loads: more than the 30 s the other specs need.
test.describe.configure({ timeout: 60_000 });

const LINK_DEAD = "This link no longer works";
const RESET_DONE = "Your password was changed. Sign in with your new password.";
const VERIFIED = "Your email address is confirmed.";

/** Exact, so "Confirm your email address" never matches "Confirm your new email address". */
function heading(page: Page, name: string) {
  return page.getByRole("heading", { name, exact: true });
}

/** The "confirm your address" banner of an unconfirmed account (optional mode). The
 * innermost match: a page section that merely contains the banner matches too, and comes
 * first in document order. */
function verificationBanner(page: Page) {
  return page.getByRole("status").or(page.getByRole("region")).filter({ hasText: "Confirm your email address" });
}

/** The one link a mail is about when its path is not part of the contract: the one that
 * carries a token (the footer's link to the site carries none). */
function tokenLink(mail: Mail): string {
  const link = mail.links.find((url) => new URL(url).searchParams.has("token"));
  if (link === undefined) throw new Error(`no token link in "${mail.subject}"; links: ${mail.links.join(" ")}`);
  return link;
}

async function signIn(page: Page, login: string, password: string, { hydrated = true } = {}) {
  await page.goto("/login");
  if (hydrated) await waitForHydration(page);
  await page.getByLabel("Username or email").fill(login);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
}

/** From /login to the "Check your inbox" answer. With JavaScript the link is followed by the
 * hydrated router, so the form is live (the page has no password field whose toggle would
 * tell that it hydrated). Returns the text of the answer's `main`. */
async function requestReset(page: Page, email: string, shots: string | null, { hydrated = true } = {}) {
  await page.goto("/login");
  if (hydrated) await waitForHydration(page);
  await page.getByRole("link", { name: "Forgot password?" }).click();
  await expect(page).toHaveURL(/\/forgot-password/);
  await expect(heading(page, "Reset your password")).toBeVisible();
  await page.getByLabel("Email").fill(email);
  if (shots) await screenshot(page, `${shots}forgot-password`);
  await page.getByRole("button", { name: "Send reset link" }).click();
  await expect(heading(page, "Check your inbox")).toBeVisible();
  if (shots) await screenshot(page, `${shots}forgot-password-sent`);
  return page.getByRole("main").innerText();
}

async function fillNewPassword(page: Page, password: string) {
  // Exact: "New password" is a substring of "Confirm new password".
  await page.getByLabel("New password", { exact: true }).fill(password);
  await page.getByLabel("Confirm new password", { exact: true }).fill(password);
}

test.describe("password reset", () => {
  test("with JavaScript: the mailed link sets a new password once, and a notice follows", async ({ page }) => {
    const errors = watchConsole(page);
    const user = newUser("reset");
    await registerInBrowser(page, user);
    await signOut(page);

    await requestReset(page, user.email, "mail-");
    const reset = await nextMail(user.email, SUBJECT.reset);
    const link = linkIn(reset, "/reset-password?token=");

    await page.goto(link);
    await waitForHydration(page);
    await expect(heading(page, "Choose a new password")).toBeVisible();
    await fillNewPassword(page, NEW_PASSWORD);
    // The same meter as on /register: the browser rates the new password as it is typed.
    await expect(page.getByTestId("password-strength")).toBeVisible();
    await expect(page.getByTestId("password-strength")).toContainText("Password strength:");
    await screenshot(page, "mail-reset-password");
    await page.getByRole("button", { name: "Set new password" }).click();

    await expect(page).toHaveURL(/\/login(\?|$)/);
    await expect(page.getByText(RESET_DONE)).toBeVisible();
    await screenshot(page, "mail-reset-password-done");
    // Checked here: the failed sign-in below makes Chromium log its 401 as a console error.
    expect(errors).toEqual([]);

    await signIn(page, user.username, PASSWORD);
    await expect(page.getByRole("alert")).toHaveText("Incorrect username or password");
    await signIn(page, user.username, NEW_PASSWORD);
    await expect(page.getByTestId("signed-in-as")).toHaveText(`Signed in as ${user.username}`);

    // The owner hears of the change, whoever made it.
    await nextMail(user.email, SUBJECT.passwordChanged);

    // A reset link works once.
    await page.goto(link);
    await expect(heading(page, LINK_DEAD)).toBeVisible();
    await expect(page.getByRole("link", { name: "Ask for a new link" })).toHaveAttribute("href", /\/forgot-password/);
    await screenshot(page, "mail-reset-link-used");
  });

  test("an unknown address gets the same answer as a known one", async ({ page }) => {
    const user = newUser("known");
    await registerInBrowser(page, user);
    await signOut(page);

    const known = await requestReset(page, user.email, null);
    await screenshot(page, "mail-forgot-password-known");
    const unknown = await requestReset(page, newUser("nobody").email, null);
    await screenshot(page, "mail-forgot-password-unknown");
    // No account oracle: the page reads the same either way, word for word.
    expect(unknown).toBe(known);
    // ...and the known address really was sent a link, so the two answers did differ in effect.
    await nextMail(user.email, SUBJECT.reset);
  });

  test.describe("without JavaScript", () => {
    test.use({ javaScriptEnabled: false });

    test("request, mail, new password and sign-in, all with plain form posts", async ({ page }) => {
      const user = newUser("nojsreset");
      await page.goto("/register");
      await fillRegistration(page, user);
      await page.getByRole("button", { name: "Create account" }).click();
      await expect(page.getByTestId("signed-in-as")).toBeVisible();
      await signOut(page);

      await requestReset(page, user.email, "mail-nojs-", { hydrated: false });
      const link = linkIn(await nextMail(user.email, SUBJECT.reset), "/reset-password?token=");

      await page.goto(link);
      await expect(heading(page, "Choose a new password")).toBeVisible();
      await fillNewPassword(page, NEW_PASSWORD);
      await screenshot(page, "mail-nojs-reset-password");
      await page.getByRole("button", { name: "Set new password" }).click();
      // The server answered the post with a redirect to the sign-in page and its notice.
      await expect(page).toHaveURL(/\/login(\?|$)/);
      await expect(page.getByText(RESET_DONE)).toBeVisible();
      await screenshot(page, "mail-nojs-reset-password-done");

      await signIn(page, user.username, PASSWORD, { hydrated: false });
      await expect(page.getByRole("alert")).toHaveText("Incorrect username or password");
      await signIn(page, user.username, NEW_PASSWORD, { hydrated: false });
      await expect(page.getByTestId("signed-in-as")).toHaveText(`Signed in as ${user.username}`);
      await nextMail(user.email, SUBJECT.passwordChanged);

      await page.goto(link);
      await expect(heading(page, LINK_DEAD)).toBeVisible();
    });
  });
});

test.describe("email verification, optional mode", () => {
  test("signed in at once, a banner until confirmed; a newer link replaces the older", async ({ page }) => {
    const errors = watchConsole(page);
    const user = newUser("verify");
    await registerInBrowser(page, user);

    const banner = verificationBanner(page).last();
    await expect(banner).toBeVisible();
    await expect(banner).toContainText(user.email);
    await screenshot(page, "mail-verify-banner");
    const first = linkIn(await nextMail(user.email, SUBJECT.verify), "/verify-email?token=");

    // Page-wide: the button may sit beside the banner's status text rather than inside it.
    await page.getByRole("button", { name: "Send a new link" }).click();
    await expect(page.getByText("A new link is on its way.")).toBeVisible();
    await screenshot(page, "mail-verify-resent");
    const second = linkIn(await nextMail(user.email, SUBJECT.verify), "/verify-email?token=");
    expect(second).not.toBe(first);
    // Checked before the dead link below, whose error status Chromium may log to the console.
    expect(errors).toEqual([]);

    await page.goto(first);
    await expect(heading(page, LINK_DEAD)).toBeVisible();
    // A dead confirmation link offers a new one by address, in place.
    await expect(page.getByRole("button", { name: "Email me a new link" })).toBeVisible();
    await screenshot(page, "mail-verify-link-replaced");

    await page.goto(second);
    await expect(heading(page, "Confirm your email address")).toBeVisible();
    await expect(page.getByRole("main")).toContainText(user.email);
    await screenshot(page, "mail-verify-page");
    await page.getByRole("button", { name: "Confirm email address", exact: true }).click();

    await expect(page).toHaveURL(/\/account(\?|$)/);
    await expect(page.getByText(VERIFIED)).toBeVisible();
    await expect(verificationBanner(page)).toHaveCount(0);
    await screenshot(page, "mail-verified");
  });
});

test.describe("email verification, required mode", () => {
  test.use({ baseURL: REQUIRED_URL });

  test("sign-up signs nobody in and tells nothing; sign-in waits for the link", async ({ page }) => {
    const user = newUser("required");
    const register = async (account: { username: string; email: string }) => {
      await page.goto("/register");
      await waitForHydration(page);
      await fillRegistration(page, account);
      await page.getByRole("button", { name: "Create account" }).click();
      await expect(heading(page, "Check your inbox")).toBeVisible();
      return page.getByRole("main").innerText();
    };

    const answer = await register(user);
    // Not signed in: the header still offers to sign in.
    await expect(page.getByRole("navigation", { name: "Account" }).getByRole("link", { name: "Sign in" })).toBeVisible();
    await expect(page.getByTestId("signed-in-as")).toHaveCount(0);
    await screenshot(page, "mail-required-check-inbox");
    const verification = await nextMail(user.email, SUBJECT.verify);
    const link = linkIn(verification, "/verify-email?token=");

    // The same address again, under another name: the same page, which never shows the
    // address, so whoever typed it learns nothing; the owner is told instead.
    const again = await register({ username: newUser("required").username, email: user.email });
    expect(again).toBe(answer);
    await expect(page.getByRole("main")).not.toContainText(user.email);
    await screenshot(page, "mail-required-check-inbox-again");
    await nextMail(user.email, SUBJECT.signUpAttempt);

    await signIn(page, user.username, PASSWORD);
    await expect(page.getByText("Confirm your email address before signing in")).toBeVisible();
    await expect(page.getByRole("link", { name: "Send a new link" })).toBeVisible();
    await expect(page.getByTestId("signed-in-as")).toHaveCount(0);
    await screenshot(page, "mail-required-sign-in-unconfirmed");

    await page.goto(link);
    await expect(heading(page, "Confirm your email address")).toBeVisible();
    await expect(page.getByRole("main")).toContainText(user.email);
    await screenshot(page, "mail-required-verify-page");
    await page.getByRole("button", { name: "Confirm email address", exact: true }).click();

    // Confirming signs in.
    await expect(page).toHaveURL(/\/account(\?|$)/);
    await expect(page.getByText(VERIFIED)).toBeVisible();
    await expect(page.getByTestId("account-username")).toHaveText(user.username);
    await screenshot(page, "mail-required-verified");
    await page.goto("/");
    await expect(page.getByTestId("signed-in-as")).toHaveText(`Signed in as ${user.username}`);

    // What the recipient's mail program shows (the HTML part; no network is needed for it).
    expect(verification.html).not.toBe("");
    // On a blank page: set into a Gatehouse page, the mail would live under that page's CSP,
    // which refuses inline styles, and show unstyled.
    await page.goto("about:blank");
    await page.setContent(verification.html);
    await expect(page.getByRole("link", { name: "Confirm email address" })).toHaveCSS("background-color", "rgb(29, 78, 216)");
    await screenshot(page, "mail-rendered-verification");
  });
});

test.describe("change of email address", () => {
  test("the new address confirms the change; the old one is told; sign-in follows", async ({ page }) => {
    const user = newUser("moving");
    const moved = newUser("moved");
    await registerInBrowser(page, user);
    await page.goto(linkIn(await nextMail(user.email, SUBJECT.verify), "/verify-email?token="));
    await page.getByRole("button", { name: "Confirm email address", exact: true }).click();
    await expect(page).toHaveURL(/\/account(\?|$)/);
    await expect(page.getByText(VERIFIED)).toBeVisible();

    await page.goto("/account");
    await waitForHydration(page);
    // Scoped: the password section on the same page has a "Current password" field too.
    const section = page
      .locator("section")
      .filter({ has: page.getByRole("heading", { name: "Email address", exact: true }) })
      .last();
    await section.getByLabel("New email").fill(moved.email);
    await section.getByLabel("Current password").fill(PASSWORD);
    await screenshot(page, "mail-change-email");
    await section.getByRole("button", { name: "Change email" }).click();
    await expect(
      page.getByText("We sent a link to the new address. Your sign-in address changes when you open it."),
    ).toBeVisible();
    await screenshot(page, "mail-change-email-sent");

    const confirm = await nextMail(moved.email, SUBJECT.confirmNewAddress);
    await page.goto(tokenLink(confirm));
    await expect(heading(page, "Confirm your new email address")).toBeVisible();
    await screenshot(page, "mail-change-email-confirm");
    await page.getByRole("button", { name: "Confirm email address", exact: true }).click();

    await expect(page).toHaveURL(/\/account(\?|$)/);
    await expect(page.getByText("Your email address was changed.")).toBeVisible();
    await expect(page.getByRole("main")).toContainText(moved.email);
    await screenshot(page, "mail-change-email-done");
    // The old address hears of it: if this was not its owner, they know where to look.
    await nextMail(user.email, SUBJECT.addressChanged);

    await signOut(page);
    await signIn(page, user.email, PASSWORD);
    await expect(page.getByRole("alert")).toHaveText("Incorrect username or password");
    await signIn(page, moved.email, PASSWORD);
    await expect(page.getByTestId("signed-in-as")).toHaveText(`Signed in as ${user.username}`);
  });
});
