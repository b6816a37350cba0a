import { expect } from "@playwright/test";
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

test.describe("with JavaScript (hydrated)", () => {
  test("sign up, sign out, sign in with email, with no console errors", async ({ page }) => {
    const errors = watchConsole(page);
    const user = newUser("hydrated");

    await page.goto("/register");
    await waitForHydration(page);
    await screenshot(page, "register");
    await fillRegistration(page, user);
    await page.getByRole("button", { name: "Create account" }).click();

    await expect(page).toHaveURL(/\/$/);
    await expect(page.getByTestId("signed-in-as")).toHaveText(`Signed in as ${user.username}`);
    await screenshot(page, "home-signed-in");

    await signOut(page);
    await expect(page.getByTestId("signed-in-as")).toHaveCount(0);

    await page.goto("/login");
    await waitForHydration(page);
    await screenshot(page, "login");
    await page.getByLabel("Username or email").fill(user.email.toUpperCase());
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await expect(page.getByTestId("signed-in-as")).toHaveText(`Signed in as ${user.username}`);

    expect(errors).toEqual([]);
  });

  test("field errors appear in the browser before anything is submitted", async ({ page }) => {
    let serverCalls = 0;
    page.on("request", (req) => {
      if (req.url().includes("/rpc/register")) serverCalls += 1;
    });
    await page.goto("/register");
    await waitForHydration(page);

    const email = page.getByLabel("Email");
    await email.fill("not-an-email");
    await email.blur();
    await expect(page.locator("#field-email-error")).toHaveText("Enter an email address like name@example.com.");
    await expect(email).toHaveAttribute("aria-invalid", "true");

    // Once visited, a field re-checks as the person types.
    await email.fill("fixed@example.com");
    await expect(page.locator("#field-email-error")).toHaveText("");
    await expect(email).toHaveAttribute("aria-invalid", "false");

    await page.getByLabel("Password", { exact: true }).fill("short");
    await page.getByLabel("Password", { exact: true }).blur();
    await expect(page.locator("#field-password-error")).toHaveText("Use at least 8 characters.");
    // Counted after NFC, as the server counts (the browser's own normalize(), not the wasm's
    // tables): "é" typed as e + a combining accent is two code points but one character.
    await page.getByLabel("Password", { exact: true }).fill("e\u0301".repeat(8));
    await expect(page.locator("#field-password-error")).toHaveText("");
    await page.getByLabel("Password", { exact: true }).fill("e\u0301".repeat(4));
    await expect(page.locator("#field-password-error")).toHaveText("Use at least 8 characters.");

    // Submitting an invalid form shows every error and sends nothing.
    await page.getByRole("button", { name: "Create account" }).click();
    await expect(page.locator("#field-username-error")).toHaveText("Choose a username.");
    await screenshot(page, "register-errors");
    expect(serverCalls).toBe(0);
  });

  test("the password toggle shows and hides the password", async ({ page }) => {
    await page.goto("/login");
    await waitForHydration(page);
    const password = page.getByLabel("Password", { exact: true });
    await password.fill("secret words");
    await expect(password).toHaveAttribute("type", "password");
    await page.getByRole("button", { name: "Show password" }).click();
    await expect(password).toHaveAttribute("type", "text");
    await page.getByRole("button", { name: "Hide password" }).click();
    await expect(password).toHaveAttribute("type", "password");
  });

  test("a taken username is reported on its field", async ({ page }) => {
    const user = newUser("taken");
    await registerInBrowser(page, user);
    await signOut(page);

    await page.goto("/register");
    await waitForHydration(page);
    await fillRegistration(page, { username: user.username.toUpperCase(), email: `other.${user.email}` });
    await page.getByRole("button", { name: "Create account" }).click();
    await expect(page.locator("#field-username-error")).toHaveText("That username is already taken.");
    await expect(page.getByLabel("Email")).toHaveValue(`other.${user.email}`);
  });

  test("a wrong password and an unknown user show the same single message", async ({ page }) => {
    const user = newUser("wrongpw");
    await registerInBrowser(page, user);
    await signOut(page);

    const messages: string[] = [];
    for (const name of [user.username, `${user.username}_nobody`]) {
      await page.goto("/login");
      await waitForHydration(page);
      await page.getByLabel("Username or email").fill(name);
      await page.getByLabel("Password", { exact: true }).fill("definitely not it");
      await page.getByRole("button", { name: "Sign in", exact: true }).click();
      const alert = page.getByRole("alert");
      await expect(alert).toHaveText("Incorrect username or password");
      messages.push((await alert.textContent()) ?? "");
    }
    expect(messages[0]).toBe(messages[1]);
    await screenshot(page, "login-error");
  });

  test("/account sends a signed-out visitor to sign in, then back", async ({ page }) => {
    const user = newUser("account");
    await registerInBrowser(page, user);
    await signOut(page);

    await page.goto("/account");
    await expect(page).toHaveURL(/\/login\?next=\/account$/);
    await waitForHydration(page);
    await page.getByLabel("Username or email").fill(user.username);
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await expect(page).toHaveURL(/\/account$/);
    await expect(page.getByTestId("account-username")).toHaveText(user.username);
    await screenshot(page, "account");
  });
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("sign up, sign out, a failed sign-in, then sign in", async ({ page }) => {
    const user = newUser("nojs");
    await page.goto("/register");
    await fillRegistration(page, user);
    await page.getByRole("button", { name: "Create account" }).click();
    await expect(page).toHaveURL(/\/$/);
    await expect(page.getByTestId("signed-in-as")).toHaveText(`Signed in as ${user.username}`);

    await signOut(page);

    await page.goto("/login");
    await page.getByLabel("Username or email").fill(user.username);
    await page.getByLabel("Password", { exact: true }).fill("not the password");
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await expect(page.getByRole("alert")).toHaveText("Incorrect username or password");
    await screenshot(page, "nojs-login-error");

    await page.getByLabel("Username or email").fill(user.username);
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await expect(page.getByTestId("signed-in-as")).toHaveText(`Signed in as ${user.username}`);
  });

  test("server-side field errors appear next to their field", async ({ page }) => {
    await page.goto("/register");
    await fillRegistration(page, { username: "x!", email: "broken" }, "short");
    await page.getByRole("button", { name: "Create account" }).click();
    await expect(page.locator("#field-email-error")).toHaveText("Enter an email address like name@example.com.");
    await expect(page.locator("#field-username-error")).toHaveText("Use only letters, digits and underscores.");
    await expect(page.locator("#field-password-error")).toHaveText("Use at least 8 characters.");
    await expect(page.getByLabel("Email")).toHaveAttribute("aria-invalid", "true");
    await screenshot(page, "nojs-register-errors");
  });

  test("/account redirects to sign-in and back", async ({ page }) => {
    const user = newUser("nojsacct");
    await page.goto("/register");
    await fillRegistration(page, user);
    await page.getByRole("button", { name: "Create account" }).click();
    await signOut(page);
    await page.goto("/account");
    await expect(page).toHaveURL(/\/login\?next=\/account$/);
    await page.getByLabel("Username or email").fill(user.email);
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await expect(page).toHaveURL(/\/account$/);
    await expect(page.getByTestId("account-username")).toHaveText(user.username);
  });
});

test.describe("looks", () => {
  for (const scheme of ["light", "dark"] as const) {
    test(`pages in ${scheme} mode on phone and desktop`, async ({ browser }) => {
      for (const [device, viewport] of [
        ["phone", { width: 390, height: 844 }],
        ["desktop", { width: 1280, height: 800 }],
      ] as const) {
        const context = await browser.newContext({
          colorScheme: scheme,
          viewport,
          extraHTTPHeaders: { "X-Forwarded-For": newClientIp() },
        });
        const page = await context.newPage();
        for (const path of ["/", "/register", "/login"]) {
          await page.goto(path);
          await waitForHydrationIfForm(page, path);
          const name = path === "/" ? "home" : path.slice(1);
          await page.screenshot({ path: `screenshots/${name}-${scheme}-${device}.png`, fullPage: true });
        }
        // The card never overflows the viewport horizontally.
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        expect(overflow).toBeLessThanOrEqual(0);
        await context.close();
      }
    });
  }
});

async function waitForHydrationIfForm(page: import("@playwright/test").Page, path: string) {
  if (path !== "/") await waitForHydration(page);
}

test.describe("content security policy", () => {
  test("every page hydrates and signs up and in with zero CSP violations", async ({ page }) => {
    // Registered before any page script runs; Playwright's init scripts are not subject to CSP.
    await page.addInitScript(() => {
      (window as unknown as { __csp: string[] }).__csp = [];
      document.addEventListener("securitypolicyviolation", (e) => {
        (window as unknown as { __csp: string[] }).__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
      });
    });
    const errors = watchConsole(page);
    const violations: string[] = [];
    const collect = async () => {
      violations.push(...(await page.evaluate(() => (window as unknown as { __csp: string[] }).__csp)));
    };

    for (const path of ["/", "/login", "/register"]) {
      const response = await page.goto(path);
      expect(response?.headers()["content-security-policy"]).toContain("'strict-dynamic'");
      if (path !== "/") await waitForHydration(page);
      await collect();
    }
    const user = newUser("csp");
    await fillRegistration(page, user);
    await page.getByRole("button", { name: "Create account" }).click();
    await expect(page.getByTestId("signed-in-as")).toBeVisible();
    await collect();
    await page.goto("/account");
    await expect(page.getByTestId("account-username")).toHaveText(user.username);
    await collect();
    await signOut(page);
    await page.goto("/login");
    await waitForHydration(page);
    await page.getByLabel("Username or email").fill(user.username);
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await expect(page.getByTestId("signed-in-as")).toBeVisible();
    await collect();

    expect(violations).toEqual([]);
    expect(errors).toEqual([]);
  });

  test("the not-found page, from its signed-out copy, hydrates with zero CSP violations and leads home", async ({
    page,
  }) => {
    await page.addInitScript(() => {
      (window as unknown as { __csp: string[] }).__csp = [];
      document.addEventListener("securitypolicyviolation", (e) => {
        (window as unknown as { __csp: string[] }).__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
      });
    });
    const errors = watchConsole(page);
    // A fresh browser sends no cookie, so from the second unknown path on at the latest the
    // server answers from the page's copy, with a fresh nonce its scripts must carry to run.
    const nonces = new Set<string>();
    for (const path of ["/no/such/page", "/another/missing/page", "/a/third.html"]) {
      const response = await page.goto(path);
      expect(response?.status()).toBe(404);
      nonces.add(/'nonce-([^']+)'/.exec(response?.headers()["content-security-policy"] ?? "")?.[1] ?? "");
      await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
      await expect(page.locator("html[data-hydrated]")).toBeAttached({ timeout: 30_000 });
      const violations = await page.evaluate(() => (window as unknown as { __csp: string[] }).__csp);
      expect(violations).toEqual([]);
    }
    expect(nonces.size).toBe(3);
    expect(nonces.has("")).toBe(false);
    await screenshot(page, "not-found");
    await page.getByRole("link", { name: "Go to the home page" }).click();
    await expect(page).toHaveURL(/\/$/);
    await expect(page.getByRole("heading", { name: "The secure front door" })).toBeVisible();
    // The browser reports each 404 document it loads; nothing else may fail.
    expect(errors.filter((e) => !e.includes("status of 404"))).toEqual([]);
  });
});
