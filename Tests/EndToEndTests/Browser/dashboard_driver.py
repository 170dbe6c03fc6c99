"""A headless Chromium driving the balctl dashboard (issue 19), for the browser end-to-end suites.

The Swift suites (DashboardBrowserTests.swift) start the real balctl-server, agents, haproxy and
BIND9, write a JSON config describing them and run `scenarios.py --config FILE SCENARIO`. This
module holds what every scenario needs: one Chromium (Debian's, through Debian's chromedriver,
selenium from PyPI), sign-in, bounded waits, screenshots, and the checks every page must pass
(HTML size, security headers, no CSP violation in the browser console).

Everything fails by raising ScenarioFailure with a message that says what was expected and what
was seen; scenarios.py turns it into a non-zero exit the Swift test prints.
"""

import base64
import hashlib
import http.client
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.parse

from selenium import webdriver
from selenium.common.exceptions import (NoAlertPresentException, StaleElementReferenceException, TimeoutException,
                                        WebDriverException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
MAX_PAGE_BYTES = 200 * 1024
SESSION_COOKIE = "balctl_session"

# What the contract says every dashboard page sends.
REQUIRED_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}
REQUIRED_CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
    "base-uri": "'none'",
}

# Runs before any page script (CDP: not subject to the page's CSP), so the page's own
# violations are recorded even when they happen while it loads.
VIOLATION_RECORDER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__cspViolations.push(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') +
                              ' at ' + (e.sourceFile || '?') + ':' + (e.lineNumber || 0));
});
"""


class ScenarioFailure(Exception):
    pass


def log(message):
    print(message, flush=True)


def spki_sha256(cert_path):
    """base64(SHA-256(SubjectPublicKeyInfo)) of a PEM certificate: Chromium then accepts exactly
    this server key (--ignore-certificate-errors-spki-list), not any certificate."""
    pub = subprocess.run(["openssl", "x509", "-in", cert_path, "-noout", "-pubkey"],
                         check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"],
                         input=pub, check=True, capture_output=True).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


class Dashboard:
    """One Chromium for one scenario, pointed at one balctl-server."""

    def __init__(self, config):
        self.config = config
        self.base = config["base"].rstrip("/")
        self.origin = urllib.parse.urlsplit(self.base)
        self.shots = os.path.join(config["artifacts"], "screenshots")
        os.makedirs(self.shots, exist_ok=True)
        self.visited = []          # paths this scenario loaded (each one is checked by check_pages)
        self.console = []          # every browser console entry seen so far
        self.dialogs = []          # texts of the confirmations accepted
        self.result = {}           # what the Swift side checks next (printed as RESULT even on failure)
        self.profile = tempfile.mkdtemp(prefix="balctl-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
                    "--user-data-dir=" + self.profile, "--no-first-run", "--disable-extensions",
                    "--disable-background-networking", "--disable-component-update",
                    "--ignore-certificate-errors-spki-list=" + spki_sha256(config["serverCert"])]:
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        started = time.monotonic()
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(30)
        self.driver.set_script_timeout(10)
        self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": VIOLATION_RECORDER})
        log(f"chromium {self.driver.capabilities.get('browserVersion', '?')} started in {time.monotonic() - started:.1f} s")

    def close(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    # MARK: navigation

    def url(self, path):
        return self.base + path

    def path(self):
        """The current URL's path and query."""
        parts = urllib.parse.urlsplit(self.driver.current_url)
        return parts.path + (("?" + parts.query) if parts.query else "")

    def get(self, path, expect_status=200):
        self.driver.get(self.url(path))
        status = self.status()
        if expect_status is not None and status != expect_status:
            raise ScenarioFailure(f"GET {path}: status {status}, expected {expect_status}; now at {self.path()}; "
                                  f"page says: {self.text()[:400]!r}")
        self.remember()
        return status

    def remember(self):
        p = self.path()
        if p not in self.visited:
            self.visited.append(p)

    def status(self):
        """The HTTP status of the document now shown (Navigation Timing's responseStatus)."""
        return self.driver.execute_script(
            "const n = performance.getEntriesByType('navigation')[0]; return n ? n.responseStatus : null;")

    def text(self, css="body"):
        try:
            return self.driver.find_element(By.CSS_SELECTOR, css).text
        except WebDriverException:
            return ""

    def find(self, css, within=None):
        return (within or self.driver).find_element(By.CSS_SELECTOR, css)

    def find_all(self, css, within=None):
        return (within or self.driver).find_elements(By.CSS_SELECTOR, css)

    def wait_for(self, css, text=None, timeout=20, what=None):
        """The first element matching `css` (whose text contains `text`, when given), polled every
        100 ms; fails after `timeout` seconds saying what the page showed instead."""
        def probe(driver):
            for el in driver.find_elements(By.CSS_SELECTOR, css):
                try:
                    if text is None or text in el.text:
                        return el
                except WebDriverException:  # replaced by a live update between find and read
                    continue
            return False
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(probe)
        except TimeoutException:
            seen = [e.text for e in self.driver.find_elements(By.CSS_SELECTOR, css)][:10]
            raise ScenarioFailure(f"{what or css}: no element {css!r}" + (f" containing {text!r}" if text else "") +
                                  f" within {timeout} s on {self.path()} (status {self.status()}); "
                                  f"matching elements' text: {seen}; page: {self.text()[:300]!r}")

    def wait_until(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = predicate()
                if last:
                    return last
            except WebDriverException as e:
                last = f"{type(e).__name__}: {e.msg if hasattr(e, 'msg') else e}"
            time.sleep(0.1)
        what = what() if callable(what) else what
        raise ScenarioFailure(f"{what}: not within {timeout} s (last: {last!r}) on {self.path()}")

    def click(self, css, timeout=10):
        """Finds and clicks `css`, again if a live update replaced the element in between (the
        overview's cards are swapped by server-sent events while a user looks at them)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.find(css).click()
                return
            except StaleElementReferenceException:
                if time.monotonic() >= deadline:
                    raise ScenarioFailure(f"{css}: replaced by live updates on every try for {timeout} s")
                time.sleep(0.05)

    def submit(self, form_css, button_css="button[type=submit]"):
        """Submits a form with its own button, as a user would (accepting the confirmation the
        page's script may ask for), and waits for the next page."""
        form = self.find(form_css)
        old = self.driver.find_element(By.TAG_NAME, "html")
        form.find_element(By.CSS_SELECTOR, button_css).click()
        self.accept_dialog()
        self.wait_until(lambda: self.is_stale(old), 20, f"the page after submitting {form_css}")
        self.wait_until(lambda: self.driver.execute_script("return document.readyState") == "complete", 20,
                        "document loaded")

    def accept_dialog(self, timeout=1.0):
        """Accepts a window.confirm/alert if one opens within `timeout` s; returns its text."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                alert = self.driver.switch_to.alert
                text = alert.text
                alert.accept()
                self.dialogs.append(text)
                log(f"accepted the page's dialog: {text!r}")
                return text
            except NoAlertPresentException:
                time.sleep(0.05)
        return None

    def is_stale(self, element):
        try:
            element.tag_name
            return False
        except StaleElementReferenceException:
            return True

    # MARK: sign-in

    def sign_in(self, username, password, next_path=None, expect_status=None):
        """Signs in through the form; returns the status of the page it lands on."""
        self.get("/signin" + (("?next=" + urllib.parse.quote(next_path)) if next_path else ""))
        form = self.wait_for("form#signin-form", what="the sign-in form")
        self.find("input[name=username]", form).clear()
        self.find("input[name=username]", form).send_keys(username)
        self.find("input[name=password]", form).send_keys(password)
        self.submit("form#signin-form")
        status = self.status()
        self.remember()
        if expect_status is not None and status != expect_status:
            raise ScenarioFailure(f"sign-in as {username}: status {status}, expected {expect_status}; at {self.path()}; "
                                  f"error: {self.text('#signin-error')!r}")
        return status

    def session_cookie(self):
        return self.driver.get_cookie(SESSION_COOKIE)

    def sign_out(self):
        self.submit("form#signout-form")

    # MARK: artifacts

    def screenshot(self, name):
        path = os.path.join(self.shots, name + ".png")
        if not self.driver.save_screenshot(path):
            raise ScenarioFailure(f"screenshot {path} was not written")
        log(f"screenshot {path} ({os.path.getsize(path)} bytes)")
        return path

    # MARK: checks

    def check_console(self):
        """Reads the browser console since the last call; fails on any CSP violation or uncaught
        script error. Returns the new entries."""
        entries = self.driver.get_log("browser")
        self.console.extend(entries)
        bad = [e["message"] for e in entries
               if "Content Security Policy" in e["message"] or "Refused to" in e["message"]
               or "Uncaught" in e["message"]]
        if bad:
            raise ScenarioFailure("browser console shows CSP violations or script errors:\n  " + "\n  ".join(bad))
        violations = self.driver.execute_script("return window.__cspViolations || []")
        if violations:
            raise ScenarioFailure(f"securitypolicyviolation events on {self.path()}: {violations}")
        return entries

    def fetch(self, path, method="GET", body=None, cookie=None, headers=None):
        """One request outside the browser (TLS verified against the suite's CA): status, headers
        (lower-cased names) and body bytes. Redirects are not followed."""
        ctx = ssl.create_default_context(cafile=self.config["caFile"])
        conn = http.client.HTTPSConnection(self.origin.hostname, self.origin.port, context=ctx, timeout=20)
        h = dict(headers or {})
        if cookie:
            h["Cookie"] = f"{SESSION_COOKIE}={cookie}"
        if body is not None:
            h.setdefault("Content-Type", "application/x-www-form-urlencoded")
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def check_pages(self, paths=None, rendering=False):
        """Every page this scenario loaded (or `paths`), fetched again with the browser's session:
        HTML at most 200 KB, the contract's CSP and headers, no inline script or style; with
        `rendering`, also no Swift optional printed by a template. Prints each page's size."""
        cookie = (self.session_cookie() or {}).get("value")
        problems = []
        for p in paths or self.visited:
            status, headers, body = self.fetch(p, cookie=cookie)
            ctype = headers.get("content-type", "")
            log(f"page {p}: {status}, {len(body)} bytes, {ctype}")
            if not ctype.startswith("text/html"):
                continue
            if len(body) > MAX_PAGE_BYTES:
                problems.append(f"{p}: {len(body)} bytes, over {MAX_PAGE_BYTES}")
            problems += [f"{p}: {m}" for m in header_problems(headers)]
            html = body.decode("utf-8", "replace").lower()
            if rendering:
                for leak in ["optional(", ">nil<"]:
                    if leak in "".join(html.split()):
                        problems.append(f"{p}: shows {leak!r} (a template printed a Swift optional)")
            if inline_script(html):
                problems.append(f"{p}: has an inline <script> (CSP blocks it)")
            if " style=" in html or "\tstyle=" in html or "\nstyle=" in html:
                problems.append(f"{p}: has a style= attribute (CSP blocks it)")
        if problems:
            raise ScenarioFailure("pages break the contract:\n  " + "\n  ".join(problems))

    def prove_csp_blocks_inline_script(self):
        """A positive control for the console check: an inline script added to the current page
        must not run, and the browser must report the violation."""
        self.check_console()
        self.driver.execute_script("""
            const s = document.createElement('script');
            s.textContent = 'window.__inlineRan = true;';
            document.body.appendChild(s);""")
        time.sleep(0.3)
        ran = self.driver.execute_script("return window.__inlineRan === true")
        events = self.driver.execute_script("return window.__cspViolations || []")
        logs = self.driver.get_log("browser")
        if ran:
            raise ScenarioFailure(f"an inline script ran on {self.path()}: the CSP does not forbid inline script")
        if not events or not any("Content Security Policy" in e["message"] for e in logs):
            raise ScenarioFailure(f"the blocked inline script left no violation (events {events}, console {logs}): "
                                  "the console check would not see one either")
        self.driver.execute_script("window.__cspViolations = []")
        log(f"inline script refused by the browser: {events[0]}")


def header_problems(headers):
    problems = []
    csp = headers.get("content-security-policy")
    if not csp:
        return ["no Content-Security-Policy header"]
    directives = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    for name, value in REQUIRED_CSP.items():
        if directives.get(name) != [value]:
            problems.append(f"CSP {name} is {directives.get(name)}, expected [{value}] (header: {csp})")
    if any("unsafe-inline" in v or "unsafe-eval" in v for vs in directives.values() for v in vs):
        problems.append(f"CSP allows unsafe-inline/unsafe-eval: {csp}")
    for name, value in REQUIRED_HEADERS.items():
        if headers.get(name, "").lower() != value:
            problems.append(f"{name} is {headers.get(name)!r}, expected {value!r}")
    if "no-store" not in headers.get("cache-control", ""):
        problems.append(f"Cache-Control is {headers.get('cache-control')!r}, expected no-store")
    return problems


def inline_script(html):
    """True when a <script> element has no src (its body would be inline code)."""
    i = 0
    while True:
        i = html.find("<script", i)
        if i < 0:
            return False
        end = html.find(">", i)
        if " src=" not in html[i:end]:
            return True
        i = end


def load_config(path):
    with open(path) as f:
        return json.load(f)
