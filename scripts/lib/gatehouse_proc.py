"""The release binary and a browser-like client, for the scripts that drive Gatehouse as a
process (crash-check.py, soak.py). Standard library only."""

import atexit
import http.cookiejar
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

BINARY = "target/release/gatehouse"
PASSWORD = "correct horse battery staple"


def require_binary():
    if not os.access(BINARY, os.X_OK):
        raise SystemExit(f"{BINARY} is missing: run `cargo leptos build --release` first")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The release binary, configured by environment variables as a deployment would be, with
    the per-IP limits lifted (the load comes from one address) and the failure floor off.
    `extra` adds or overrides settings; `metrics=True` serves /metrics on a port of its own."""

    def __init__(self, database_url, workdir, extra=None, metrics=False):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.metrics = f"http://127.0.0.1:{free_port()}" if metrics else None
        env = dict(os.environ)
        env.update({
            "APP_ENV": "development",
            "DATABASE_URL": database_url,
            "LEPTOS_SITE_ADDR": f"127.0.0.1:{self.port}",
            "MAIL_DIR": os.path.join(workdir, "mail"),
            "RATE_LIMIT_LOGIN": "1000000/minute",
            "RATE_LIMIT_REGISTER": "1000000/minute",
            "RATE_LIMIT_GLOBAL": "1000000/minute",
            "SIGN_IN_FAILURE_FLOOR_MS": "0",
            "RUST_LOG": "warn",
        })
        if self.metrics:
            env["METRICS_ADDR"] = self.metrics[len("http://"):]
        env.update(extra or {})
        self.log = open(os.path.join(workdir, f"server-{self.port}.log"), "w")
        self.process = subprocess.Popen([BINARY], env=env, stdout=self.log, stderr=self.log)
        # A script that stops on an exception must not leave its servers running.
        atexit.register(self._reap)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the server exited at start-up; see {self.log.name}")
            try:
                urllib.request.urlopen(self.base + "/healthz", timeout=1).read()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("the server did not answer /healthz within 60 s")

    def rss_kib(self):
        """Resident memory now, KiB (Linux)."""
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def scrape(self):
        """The /metrics text, or "" without a metrics listener."""
        if not self.metrics:
            return ""
        with urllib.request.urlopen(self.metrics + "/metrics", timeout=10) as response:
            return response.read().decode()

    def _reap(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def kill(self):
        self.process.kill()
        self.process.wait()

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=60)


class Client:
    """One browser or API client: a cookie jar; form posts to the server functions, pages,
    and the JSON API."""

    def __init__(self, base):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def request(self, method, path, data=None, headers=None):
        """(status, body bytes); HTTP errors are answers, not exceptions. A broken connection
        raises OSError."""
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers=headers or {})
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def post(self, endpoint, fields):
        """A server function, as the hydrated page calls it; the status."""
        data = urllib.parse.urlencode(fields).encode()
        return self.request("POST", f"/rpc/{endpoint}", data)[0]

    def get(self, path, bearer=None):
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        return self.request("GET", path, headers=headers)

    def token(self, username, password=PASSWORD):
        """An access token from the password grant, or None."""
        data = urllib.parse.urlencode({"grant_type": "password", "username": username,
                                       "password": password}).encode()
        status, body = self.request("POST", "/api/v1/token", data)
        return json.loads(body)["access_token"] if status == 200 else None

    def api_key(self, bearer, name):
        """A new API key (read:profile), or None."""
        body = json.dumps({"name": name, "password": PASSWORD}).encode()
        status, answer = self.request("POST", "/api/v1/keys", body, {
            "Authorization": f"Bearer {bearer}", "Content-Type": "application/json"})
        return json.loads(answer)["secret"] if status in (200, 201) else None


def sign_in_works(base, name, password):
    return Client(base).post("login", {"username": name, "password": password}) == 200
