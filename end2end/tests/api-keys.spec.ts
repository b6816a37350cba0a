import { expect } from "@playwright/test";
import { newUser, PASSWORD, registerInBrowser, screenshot, test } from "./helpers";

test("create an API key in the account page, use it, revoke it", async ({ page, request }) => {
  const user = newUser("keys");
  await registerInBrowser(page, user);

  await page.goto("/account");
  await expect(page.getByText("No keys yet.")).toBeVisible();
  await page.getByLabel("Key name").fill("e2e script");
  // 90 days unless another choice is made; "never" only when picked.
  await expect(page.getByLabel("Expires")).toHaveValue("90");
  await page.getByLabel("Expires").selectOption("30");
  // A key needs the account's password; a wrong one is a field error and makes no key.
  await page.getByLabel("Account password").fill("not my password");
  await page.getByRole("button", { name: "Create key" }).click();
  await expect(page.getByText("That is not your current password.")).toBeVisible();
  await expect(page.getByText("No keys yet.")).toBeVisible();
  await page.getByLabel("Account password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create key" }).click();
  const secretBox = page.getByTestId("new-api-key");
  await expect(secretBox).toHaveValue(/^gk_[a-z0-9]{8}_[A-Za-z0-9_-]{43}$/);
  const secret = await secretBox.inputValue();
  await expect(page.getByTestId("api-key-list")).toContainText("e2e script");
  // The password does not stay in the page once the key is made.
  await expect(page.getByLabel("Account password")).toHaveValue("");
  await screenshot(page, "account-api-keys");

  const me = await request.get("/api/v1/users/me", { headers: { Authorization: `Bearer ${secret}` } });
  expect(me.status()).toBe(200);
  expect((await me.json()).username).toBe(user.username);

  await page.getByRole("button", { name: "Revoke e2e script" }).click();
  await expect(page.getByTestId("api-key-list")).toContainText("revoked");
  const after = await request.get("/api/v1/users/me", { headers: { Authorization: `Bearer ${secret}` } });
  expect(after.status()).toBe(401);
  expect(after.headers()["www-authenticate"]).toContain('error="invalid_token"');
});
