import { expect, test } from "@playwright/test";
import { fillRegistration, newClientIp, newUser, PASSWORD, waitForHydration } from "../tests/helpers";

// Two Gatehouse processes (A, B) on one PostgreSQL + Redis, and nginx with TLS in front.
const A = process.env.A_URL!;
const B = process.env.B_URL!;
const PROXY = process.env.PROXY_URL!;
const PROXY_HTTP = process.env.PROXY_HTTP_URL!;
const COOKIE = "__Host-gatehouse_session";

/** A client of its own (address, cookie) talking to one instance or the other. */
class Client {
  ip = newClientIp();
  session = "";

  async rpc(base: string, endpoint: string, form: Record<string, string> = {}) {
    const headers: Record<string, string> = { "X-Forwarded-For": this.ip, "Content-Type": "application/x-www-form-urlencoded" };
    if (this.session) headers.Cookie = `${COOKIE}=${this.session}`;
    const res = await fetch(`${base}/rpc/${endpoint}`, { method: "POST", headers, body: new URLSearchParams(form), redirect: "manual" });
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith(`${COOKIE}=`));
    if (cookie) this.session = cookie.slice(COOKIE.length + 1).split(";")[0];
    return res;
  }

  async username(base: string): Promise<string | null> {
    const res = await this.rpc(base, "current_user");
    expect(res.status).toBe(200);
    return (await res.json())?.username ?? null;
  }

  async register(base: string) {
    const user = newUser("multi");
    const res = await this.rpc(base, "register", { ...user, password: PASSWORD, password_confirm: PASSWORD });
    expect(res.status).toBe(200);
    return user;
  }
}

async function me(base: string, bearer: string) {
  return fetch(`${base}/api/v1/users/me`, { headers: { Authorization: `Bearer ${bearer}` } });
}

test("a session made on A works on B, and signing out on A ends it on B", async () => {
  const client = new Client();
  const user = await client.register(A);
  expect(await client.username(B)).toBe(user.username);
  const token = client.session;
  const res = await client.rpc(A, "logout");
  expect(res.status).toBe(200);
  // The browser would drop the cookie; a copy replayed on B finds the session gone.
  client.session = token;
  expect(await client.username(B)).toBeNull();
});

test("the sign-in limit of 5 a minute per address holds across A and B together", async () => {
  const client = new Client();
  // Different unknown names each time, so the per-account throttle stays out of it.
  for (let i = 0; i < 5; i++) {
    const res = await client.rpc(i % 2 ? B : A, "login", { username: `nobody${i}x${client.ip}`, password: "wrong password" });
    expect(res.status, `attempt ${i + 1}`).toBe(401);
  }
  for (const base of [A, B]) {
    const res = await client.rpc(base, "login", { username: "nobody-else", password: "wrong password" });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
  }
});

test("an access token from A is accepted by B and revoked by a password change on B", async () => {
  const client = new Client();
  const user = await client.register(A);
  const token = await fetch(`${A}/api/v1/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-For": client.ip },
    body: new URLSearchParams({ grant_type: "password", username: user.username, password: PASSWORD }),
  });
  expect(token.status).toBe(200);
  const jwt = (await token.json()).access_token as string;
  expect((await me(B, jwt)).status).toBe(200);

  const changed = await client.rpc(B, "change_password", {
    current_password: PASSWORD,
    new_password: "a completely new passphrase",
    new_password_confirm: "a completely new passphrase",
  });
  expect(changed.status).toBe(200);
  expect((await me(A, jwt)).status).toBe(401);
  expect((await me(B, jwt)).status).toBe(401);
  // The renewed session from B works on A.
  expect(await client.username(A)).toBe(user.username);
});

test("through nginx with TLS: a browser signs up and in with a __Host- Secure cookie and HSTS", async ({ page, context }) => {
  const user = newUser("nginx");
  const response = await page.goto("/register");
  expect(response!.headers()["strict-transport-security"]).toContain("max-age=");
  // Typing before hydration races it: hydration can reset the fields (seen once on a loaded
  // machine: email and username came back empty).
  await waitForHydration(page);
  await fillRegistration(page, user);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByTestId("signed-in-as")).toBeVisible();
  const cookie = (await context.cookies()).find((c) => c.name === COOKIE);
  expect(cookie?.secure).toBe(true);
  expect(cookie?.httpOnly).toBe(true);

  // Several page loads, spread by nginx over both instances, all see the same session.
  for (let i = 0; i < 4; i++) {
    await page.goto("/account");
    await expect(page.getByTestId("account-username")).toHaveText(user.username);
  }
  await page.getByRole("button", { name: "Sign out" }).first().click();
  await expect(page.getByRole("navigation", { name: "Account" }).getByRole("link", { name: "Sign in" })).toBeVisible();
});

test("plain HTTP on the proxy only redirects to HTTPS", async () => {
  const res = await fetch(`${PROXY_HTTP}/login`, { redirect: "manual" });
  expect(res.status).toBe(301);
  expect(res.headers.get("location")).toMatch(/^https:\/\//);
});

test("through nginx a client-written Forwarded (or X-Forwarded-For) does not change the address seen", async ({ request }) => {
  // `request` talks to the proxy (baseURL) and keeps the session cookie. The documented nginx
  // overwrites X-Forwarded-For and drops Forwarded; Gatehouse reads only X-Forwarded-For.
  const forged = { Forwarded: "for=203.0.113.66;proto=https", "X-Forwarded-For": "198.51.100.66" };
  const user = newUser("fwd");
  const registered = await request.post("/rpc/register", {
    headers: forged,
    form: { ...user, password: PASSWORD, password_confirm: PASSWORD },
  });
  expect(registered.status()).toBe(200);
  const list = await request.post("/rpc/sessions", { headers: forged, form: {} });
  expect(list.status()).toBe(200);
  const sessions: { ip: string | null }[] = (await list.json()).sessions;
  // nginx runs on this machine: the real client address is loopback.
  expect(sessions.map((s) => s.ip)).toEqual(["127.0.0.1"]);
  const activity = await request.post("/rpc/activity", { headers: forged, form: {} });
  expect(activity.status()).toBe(200);
  const body = await activity.text();
  expect(body).not.toContain("203.0.113.66");
  expect(body).not.toContain("198.51.100.66");
});

test("readiness is not public through nginx; each instance answers it directly", async ({ request }) => {
  for (const path of ["/readyz", "/readyz?probe=1"]) {
    const res = await request.get(`${PROXY}${path}`);
    expect(res.status(), path).toBe(404);
    expect(await res.text(), path).not.toContain("database");
  }
  expect((await request.get(`${PROXY}/healthz`)).status()).toBe(200);
  for (const base of [A, B]) {
    const res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(200);
    expect((await res.json()).status).toBe("ready");
  }
});
