import { expect, type Page } from "@playwright/test";
import { fillRegistration, newUser, PASSWORD, registerInBrowser, screenshot, signOut, test, waitForHydration, watchConsole } from "./helpers";
import { enrol, passwordStep } from "./two-factor-steps";

// Passkeys in Chromium, with its virtual authenticator (CDP `WebAuthn` domain) standing in for
// a phone or a laptop's fingerprint reader. WebAuthn refuses an IP address as relying-party id,
// so these tests need the server at `localhost` (scripts/test.sh serves it there).

/** A platform authenticator for this page (internal transport, resident keys, user
 * verification that succeeds at once, as after a fingerprint). */
async function virtualAuthenticator(page: Page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return {
    credentials: async () => (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials,
  };
}

/** From now on this page's browser says it has no passkey autofill (conditional mediation), as
 * browsers without it do. Chromium's virtual authenticator answers the autofill's request at
 * once, as if the person had picked the passkey in the username field's list; tests of the
 * button and of the two-factor step need /login to wait instead. */
async function withoutPasskeyAutofill(page: Page) {
  await page.addInitScript(() => {
    PublicKeyCredential.isConditionalMediationAvailable = async () => false;
  });
}

function passkeysCard(page: Page) {
  return page.locator("#passkeys");
}

/** Adds a passkey on the account page (signed in, hydrated). */
async function addPasskey(page: Page, name: string) {
  await page.goto("/account");
  await waitForHydration(page);
  const card = passkeysCard(page);
  await card.getByLabel("Name (optional)").fill(name);
  await card.getByRole("button", { name: "Add a passkey" }).click();
  await expect(card.getByTestId("passkey-name").filter({ hasText: name })).toBeVisible();
}

/** The failed requests Chromium logs as console errors, which these tests cause on purpose. */
function unexpected(errors: string[]) {
  return errors.filter((e) => !/status of 4(01|22)/.test(e));
}

test("sign up, add a passkey, sign in with it alone, rename it, remove it", async ({ page }) => {
  const errors = watchConsole(page);
  const authenticator = await virtualAuthenticator(page);
  const user = newUser("passkey");
  await registerInBrowser(page, user);

  await page.goto("/account");
  await waitForHydration(page);
  await expect(passkeysCard(page).getByTestId("no-passkeys")).toBeVisible();
  await addPasskey(page, "Test laptop");
  const [credential] = await authenticator.credentials();
  expect(credential.isResidentCredential).toBe(true);
  const card = passkeysCard(page);
  await expect(card.getByTestId("passkey")).toHaveCount(1);
  await expect(card.getByTestId("passkey")).toContainText("never used");
  await card.screenshot({ path: "screenshots/passkeys-account.png" });
  await signOut(page);

  // No username, no password: the passkey says who it is. Where the browser offers passkeys
  // in the username field's autofill, picking it there signs in (the virtual authenticator
  // picks it at once) ... so fast that the page can navigate away before its own load event,
  // which would abort a goto that waits for it: wait only for the response to arrive.
  await page.goto("/login", { waitUntil: "commit" });
  await expect(page.getByTestId("signed-in-as")).toContainText(user.username);
  expect((await authenticator.credentials())[0].signCount).toBeGreaterThan(credential.signCount);
  await signOut(page);

  // ... and elsewhere the button does.
  await withoutPasskeyAutofill(page);
  await page.goto("/login");
  await waitForHydration(page);
  await expect(page.getByTestId("passkey-sign-in")).toBeVisible();
  await screenshot(page, "passkeys-login");
  await page.getByTestId("passkey-sign-in").click();
  await expect(page.getByTestId("signed-in-as")).toContainText(user.username);

  await page.goto("/account");
  await expect(page.getByTestId("activity-list")).toContainText("with a passkey");
  await expect(page.getByTestId("activity-list")).toContainText("Passkey added");
  await expect(card.getByTestId("passkey")).toContainText("last used");

  // Renaming works as a plain form.
  await card.locator("summary", { hasText: "Rename" }).click();
  await card.getByLabel("New name").fill("Work laptop");
  await card.getByRole("button", { name: "Rename", exact: true }).click();
  await expect(page.getByText("The passkey was renamed.")).toBeVisible();
  await expect(card.getByTestId("passkey-name")).toHaveText("Work laptop");

  // Removing it: the only one, and the card says what that means.
  await card.getByTestId("remove-passkey").click();
  await expect(card.getByText("This is your only passkey.")).toBeVisible();
  await card.screenshot({ path: "screenshots/passkeys-remove.png" });
  await card.getByRole("button", { name: "Remove this passkey" }).click();
  await expect(page.getByText("The passkey was removed")).toBeVisible();
  await expect(card.getByTestId("no-passkeys")).toBeVisible();
  await expect(page.getByTestId("activity-list")).toContainText("Passkey removed");
  await signOut(page);

  // The authenticator still holds it, but it no longer signs anyone in.
  await page.goto("/login");
  await waitForHydration(page);
  await page.getByTestId("passkey-sign-in").click();
  await expect(page.getByTestId("passkey-error")).toContainText("not registered here");
  await screenshot(page, "passkeys-login-removed");
  await expect(page.getByRole("navigation", { name: "Account" }).getByRole("link", { name: "Sign in" })).toBeVisible();
  expect(unexpected(errors)).toEqual([]);
});

test("a signed challenge is refused from another browser and when replayed", async ({ page, browser }) => {
  await virtualAuthenticator(page);
  const user = newUser("pkreplay");
  await registerInBrowser(page, user);
  await addPasskey(page, "Phone");
  await signOut(page);

  // This browser starts a sign-in and has the authenticator sign its challenge (on a page
  // that starts no ceremony of its own: /login would replace this one).
  await page.goto("/");
  const start = await page.request.post("/rpc/start_passkey_sign_in");
  expect(start.ok()).toBe(true);
  const options: string = await start.json();
  const credential: string = await page.evaluate(async (json) => {
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(JSON.parse(json));
    const answer = (await navigator.credentials.get({ publicKey })) as PublicKeyCredential;
    return JSON.stringify(answer.toJSON());
  }, options);
  const form = { credential, remember: "false" };

  // Another browser (no ceremony cookie) cannot use the signed answer.
  const other = await browser.newContext({ baseURL: process.env.BASE_URL });
  const stolen = await other.request.post("/rpc/finish_passkey_sign_in", { form });
  expect(stolen.status()).toBe(422);
  expect(JSON.stringify(await stolen.json())).toContain("expired or was already answered");
  await other.close();

  // This browser can, once.
  const mine = await page.request.post("/rpc/finish_passkey_sign_in", { form });
  expect(mine.status()).toBe(200);
  const replay = await page.request.post("/rpc/finish_passkey_sign_in", { form });
  expect(replay.status()).toBe(422);
  expect(JSON.stringify(await replay.json())).toContain("expired or was already answered");
});

test("a passkey answers the two-factor step instead of a code", async ({ page }) => {
  const errors = watchConsole(page);
  await virtualAuthenticator(page);
  const user = newUser("pk2fa");
  await registerInBrowser(page, user);
  await addPasskey(page, "Laptop");
  await enrol(page);
  await page.goto("/account");
  await signOut(page);
  // The password path (the autofill would sign in with the passkey alone).
  await withoutPasskeyAutofill(page);

  await passwordStep(page, user.username);
  const usePasskey = page.getByTestId("passkey-second-factor");
  await expect(usePasskey).toBeVisible();
  await screenshot(page, "passkeys-two-factor-step");
  await usePasskey.click();
  await expect(page.getByTestId("signed-in-as")).toBeVisible();
  await page.goto("/account");
  await expect(page.getByTestId("activity-list")).toContainText("with a passkey");
  expect(unexpected(errors)).toEqual([]);
});

test("without JavaScript the pages say passkeys need it, and the password still works", async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false, baseURL: process.env.BASE_URL });
  const page = await context.newPage();
  const user = newUser("pknojs");
  await page.goto("/register");
  await fillRegistration(page, user);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByTestId("signed-in-as")).toBeVisible();
  await page.goto("/account");
  await expect(passkeysCard(page).getByTestId("passkeys-need-js")).toBeVisible();
  await expect(passkeysCard(page).getByRole("button", { name: "Add a passkey" })).toBeHidden();
  await passkeysCard(page).screenshot({ path: "screenshots/passkeys-account-no-js.png" });
  // Signed out before the next page is asked for: a navigation started while the sign-out
  // form is still posting races with it.
  await signOut(page);
  await page.goto("/login");
  await expect(page.getByTestId("passkeys-need-js")).toBeVisible();
  await expect(page.getByTestId("passkey-sign-in")).toBeHidden();
  await page.getByLabel("Username or email").fill(user.username);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByTestId("signed-in-as")).toBeVisible();
  await context.close();
});
