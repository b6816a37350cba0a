import { expect } from "@playwright/test";
import { fillRegistration, newUser, screenshot, test, waitForHydration } from "./helpers";

async function failSignIn(page: import("@playwright/test").Page, attempt: number) {
  await page.getByLabel("Username or email").fill(`nobody_${attempt}`);
  await page.getByLabel("Password", { exact: true }).fill("not a real password");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
}

test.describe("rate limits", () => {
  test("the sixth sign-in within a minute is refused with a readable wait", async ({ page }) => {
    await page.goto("/login");
    await waitForHydration(page);
    for (let attempt = 0; attempt < 5; attempt++) {
      await failSignIn(page, attempt);
      await expect(page.getByRole("alert")).toHaveText("Incorrect username or password");
    }
    await failSignIn(page, 5);
    await expect(page.getByRole("alert")).toHaveText(/^Too many attempts\. Try again in \d+ s\.$/);
    await screenshot(page, "login-rate-limited");
  });

  test.describe("without JavaScript", () => {
    test.use({ javaScriptEnabled: false });

    test("the limit message is shown on the returned page", async ({ page }) => {
      await page.goto("/login");
      for (let attempt = 0; attempt < 6; attempt++) {
        await failSignIn(page, attempt);
      }
      await expect(page.getByRole("alert")).toHaveText(/^Too many attempts\. Try again in \d+ s\.$/);
    });
  });
});

test.describe("password policy in the browser", () => {
  test("a common password is refused before submitting and the meter rates passphrases", async ({ page }) => {
    await page.goto("/register");
    await waitForHydration(page);
    const password = page.getByLabel("Password", { exact: true });
    await password.fill("Password1");
    await password.blur();
    await expect(page.locator("#field-password-error")).toHaveText(
      "This password is one of the most common. Choose something harder to guess.",
    );
    await expect(page.getByTestId("password-strength")).toHaveText("Password strength: Too weak");
    await password.fill("correct horse battery staple");
    await expect(page.locator("#field-password-error")).toHaveText("");
    await expect(page.getByTestId("password-strength")).toHaveText("Password strength: Strong");
    await fillRegistration(page, newUser("meter"));
    await screenshot(page, "register-strength");
  });
});
