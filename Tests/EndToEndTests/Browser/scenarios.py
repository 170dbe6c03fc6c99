#!/usr/bin/env python3
"""The dashboard's browser scenarios (issue 19): `scenarios.py --config FILE SCENARIO`.

Each scenario starts one headless Chromium, prints what it does, and exits 0 when every check
held, 1 with "FAILED: why" (and a screenshot failure-SCENARIO.png) when one did not, 2 when the
script itself broke. The last line `RESULT {json}` carries what the Swift side checks next
(job ids, which member was promoted). The config is written by DashboardBrowserTests.swift.
"""

import argparse
import json
import secrets
import signal
import sys
import time
import traceback
import urllib.parse

from selenium.webdriver.support.ui import Select

from dashboard_driver import Dashboard, ScenarioFailure, header_problems, load_config, log

TABS = ["control", "security", "status", "jobs", "restore", "recipes", "monitoring", "settings"]


def expect(condition, message):
    if not condition:
        raise ScenarioFailure(message)


def cards(d):
    """{member name: (member id, role text)} of the overview's cards."""
    out = {}
    for card in d.find_all(".member-card"):
        out[card.get_attribute("data-member-name")] = (
            int(card.get_attribute("data-member-id")), d.find(".member-role", card).text.strip())
    return out


def wait_for_cards(d, count, timeout=20):
    return d.wait_until(lambda: (lambda c: c if len(c) == count else None)(cards(d)), timeout,
                        f"{count} member cards on the overview")


def member_path(c, member_id, tab=None):
    return f"/pools/{c['pool']['id']}/members/{member_id}" + (f"/{tab}" if tab else "")


def job_ids(d):
    return {int(r.get_attribute("data-job-id")) for r in d.find_all("#job-timeline tr.job-row")}


def row_state(d, job_id):
    rows = d.find_all(f"#job-timeline tr.job-row[data-job-id='{job_id}']")
    return d.find(".job-state", rows[0]).text.strip() if rows else None


def server_row(d, backend, server):
    return d.find(f"#haproxy-servers tr.haproxy-server[data-backend='{backend}'][data-server='{server}']")


def server_status(d, backend, server):
    return d.find(".server-status", server_row(d, backend, server)).text.strip()


# MARK: scenarios

def overview(d, c):
    """Signed out, / sends to the sign-in page; signed in, the pool list links the pool; its
    overview shows two member cards, one Active and one Standby, with their details."""
    d.get("/")
    expect(d.path().startswith("/signin"), f"/ signed out went to {d.path()}, expected /signin?next=/pools")
    d.sign_in(c["user"]["username"], c["user"]["password"], next_path="/pools", expect_status=200)
    expect(d.path() == "/pools", f"signed in at {d.path()}, expected /pools (next)")
    link = d.wait_for(f"#pools tr.pool-row[data-pool-id='{c['pool']['id']}'] a.pool-link", what="the pool's row")
    expect(c["pool"]["name"] in link.text, f"pool link says {link.text!r}, expected {c['pool']['name']!r}")
    link.click()
    d.wait_until(lambda: d.path() == f"/pools/{c['pool']['id']}", 20, "the overview after the pool link")
    d.remember()
    found = wait_for_cards(d, 2)
    log(f"cards: {found}")
    names = sorted(m["name"] for m in c["members"])
    expect(sorted(found) == names, f"cards {sorted(found)}, expected {names}")
    expect(sorted(r for _, r in found.values()) == ["Active", "Standby"],
           f"roles {[r for _, r in found.values()]}, expected one Active and one Standby")
    members = d.wait_for(".kpi[data-kpi='members']", what="the members KPI")
    expect("2" in members.text, f"members KPI says {members.text!r}")
    for card in d.find_all(".member-card"):
        for part in [".member-readiness", ".heartbeat-age", ".member-load", "svg.sparkline"]:
            expect(d.find_all(part, card), f"card {card.get_attribute('data-member-name')} has no {part}")
        standby = d.find(".member-role", card).text.strip() == "Standby"
        expect(bool(d.find_all("a.make-active", card)) == standby,
               f"card {card.get_attribute('data-member-name')}: a make-active link must be on the standby card only")
    active_ip = next(m["ip"] for m in c["members"] if found[m["name"]][1] == "Active")
    flow = d.wait_for("#traffic-flow", what="the traffic-flow line").text
    expect(c["failoverHostname"] in flow and active_ip in flow,
           f"traffic flow {flow!r} should name {c['failoverHostname']} and the active member's {active_ip}")
    d.screenshot("overview")
    d.check_console()
    d.check_pages()
    return {"cards": found}


def jobs(d, c):
    """The member page opens on its control tab; from the Jobs tab host.echo (3 s) is enqueued
    and its timeline row goes to completed while the page stays loaded (window.__marker)."""
    member = c["members"][0]
    d.sign_in(c["user"]["username"], c["user"]["password"], next_path=member_path(c, member["id"]), expect_status=200)
    expect(d.path() == member_path(c, member["id"], "control"),
           f"the member URL led to {d.path()}, expected its control tab")
    current = d.find("nav.tabs a[aria-current='page']")
    expect(current.get_attribute("data-tab") == "control", f"current tab is {current.get_attribute('data-tab')}")
    d.screenshot("member-workspace")
    d.find("nav.tabs a[data-tab='jobs']").click()
    d.wait_until(lambda: d.path() == member_path(c, member["id"], "jobs"), 20, "the jobs tab")
    form = d.wait_for("form#enqueue-job", what="the enqueue form")
    d.remember()
    before = job_ids(d)
    Select(d.find("select[name=command]", form)).select_by_value("host.echo")
    message = "from-the-browser-" + secrets.token_hex(4)
    params = d.find("textarea[name=params]", form)
    params.clear()
    params.send_keys(json.dumps({"message": message, "delaySeconds": 3}))
    d.submit("form#enqueue-job")
    expect(d.status() == 200 and d.path() == member_path(c, member["id"], "jobs"),
           f"after enqueueing: status {d.status()} at {d.path()}, expected the jobs tab")
    new = d.wait_until(lambda: job_ids(d) - before, 10, "a new row in the job timeline")
    expect(len(new) == 1, f"{len(new)} new rows after one enqueue: {new}")
    job_id = new.pop()
    d.result.update(jobId=job_id, message=message)
    expect("host.echo" in d.find(f"tr.job-row[data-job-id='{job_id}'] .job-command").text, "the new row is not host.echo")
    first = row_state(d, job_id)
    log(f"job {job_id} shown as {first!r}")
    expect(first in ("queued", "running"), f"job {job_id} first shown as {first!r}, expected queued or running")
    marker = secrets.token_hex(8)
    d.driver.execute_script("window.__marker = arguments[0]", marker)
    seen = [first]

    def completed():
        s = row_state(d, job_id)
        if s and s != seen[-1]:
            seen.append(s)
            log(f"job {job_id} now {s!r}")
        return s == "completed"
    d.wait_until(completed, 30, f"job {job_id}'s row to show completed (seen {seen})")
    expect(d.driver.execute_script("return window.__marker") == marker,
           "the page was reloaded while the job ran: the row did not update live")
    ended = d.wait_for(f"tr.job-row[data-job-id='{job_id}'] .job-progress", what="the job's progress cell").text
    expect(ended.startswith("done"), f"a completed job's progress cell says {ended!r}, not how it ended")
    d.driver.execute_script("document.querySelector('#job-timeline').scrollIntoView({block: 'center'})")
    d.screenshot("job-timeline")
    d.check_console()
    d.check_pages()
    return {"jobId": job_id, "message": message, "states": seen}


def make_active(d, c):
    """The standby's card links to a confirmation page that says what changes; confirming swaps
    the two cards' roles."""
    pool = c["pool"]["id"]
    d.sign_in(c["user"]["username"], c["user"]["password"], next_path=f"/pools/{pool}", expect_status=200)
    before = wait_for_cards(d, 2)
    standby = next(n for n, (_, r) in before.items() if r == "Standby")
    active = next(n for n, (_, r) in before.items() if r == "Active")
    standby_id = before[standby][0]
    standby_ip = next(m["ip"] for m in c["members"] if m["name"] == standby)
    d.result.update(promoted=standby_id, promotedIP=standby_ip, demoted=before[active][0])
    d.click(f".member-card[data-member-name='{standby}'] a.make-active")
    d.wait_until(lambda: d.path() == f"/pools/{pool}/members/{standby_id}/make-active", 20, "the confirmation page")
    d.remember()
    expect(d.status() == 200, f"confirmation page status {d.status()}")
    d.wait_for("form#confirm-make-active", what="the confirmation form")
    page = d.text()
    active_ip = next(m["ip"] for m in c["members"] if m["name"] == active)
    for needed in [standby, standby_ip, active_ip, c["failoverHostname"]]:
        expect(needed in page, f"the confirmation page does not say {needed!r} (what changes): {page[:500]!r}")
    d.screenshot("make-active-confirm")
    d.submit("form#confirm-make-active")
    expect(d.path() == f"/pools/{pool}", f"after confirming: at {d.path()} (status {d.status()}), expected the overview; "
           f"page: {d.text()[:300]!r}")
    after = d.wait_until(lambda: (lambda x: x if x.get(standby, (0, ""))[1] == "Active"
                                  and x.get(active, (0, ""))[1] == "Standby" else None)(cards(d)),
                         20, f"{standby} Active and {active} Standby")
    log(f"cards after: {after}")
    d.screenshot("overview-after-make-active")
    d.check_console()
    d.check_pages()
    return {"promoted": standby_id, "promotedIP": standby_ip, "demoted": before[active][0]}


def drain(d, c):
    """On the Status tab of a haproxy member, drain s1 of be1 and see its row show DRAIN once the
    job completed (live, no reload), then make it ready again (UP)."""
    member = c["members"][0]
    d.sign_in(c["user"]["username"], c["user"]["password"], next_path=member_path(c, member["id"], "status"),
              expect_status=200)
    d.wait_until(lambda: server_status(d, "be1", "s1") == "UP", 30, "be1/s1 shown UP")
    d.remember()
    seen = []
    for action, want in [("drain", "DRAIN"), ("ready", "UP")]:
        log(f"clicking {action} on be1/s1")
        d.submit(f"#haproxy-servers tr.haproxy-server[data-backend='be1'][data-server='s1'] form.server-action",
                 f"button[name=action][value={action}]")
        expect(d.status() == 200 and d.path() == member_path(c, member["id"], "status"),
               f"after {action}: status {d.status()} at {d.path()}, expected the status tab")
        d.remember()
        marker = secrets.token_hex(8)
        d.driver.execute_script("window.__marker = arguments[0]", marker)

        def shows():
            s = server_status(d, "be1", "s1")
            if not seen or seen[-1] != s:
                seen.append(s)
                log(f"be1/s1 shown {s!r}")
            return s.startswith(want)
        try:
            d.wait_until(shows, 30, lambda: f"be1/s1 shown {want} after {action} (seen {seen})")
        except ScenarioFailure as live:
            # Say whether the server had the new status and only the live update is missing.
            d.driver.refresh()
            d.wait_for("#haproxy-servers")
            after = server_status(d, "be1", "s1")
            raise ScenarioFailure(f"{live}; after a reload it shows {after!r}"
                                  + (": the row does not update live" if after.startswith(want) else ""))
        expect(d.driver.execute_script("return window.__marker") == marker,
               f"the page was reloaded while {action} ran: the row did not update live")
        if action == "drain":
            d.screenshot("status-drain")
    d.check_console()
    d.check_pages()
    return {"seen": seen}


def security(d, c):
    """The session cookie's flags; another account's pool is 404 (page, live events, a form post
    with a valid token); posts without or with a wrong CSRF token are 403; the CSP refuses an
    inline script; signing out ends the session on the server; the other account sees its pool."""
    pool, member = c["pool"]["id"], c["members"][0]["id"]
    other_pool, other_member = c["poolB"]["id"], c["memberB"]["id"]
    d.sign_in(c["user"]["username"], c["user"]["password"], next_path="/pools", expect_status=200)
    cookie = d.session_cookie()
    expect(cookie is not None, f"no {c.get('cookie', 'balctl_session')} cookie after sign-in")
    log(f"session cookie: httpOnly={cookie.get('httpOnly')} secure={cookie.get('secure')} "
        f"sameSite={cookie.get('sameSite')} path={cookie.get('path')}")
    expect(cookie.get("httpOnly") and cookie.get("secure") and cookie.get("sameSite") == "Strict"
           and cookie.get("path") == "/", f"session cookie flags: {cookie}")

    # Another account's pool: not in the list, 404 everywhere.
    rows = [r.get_attribute("data-pool-id") for r in d.find_all("#pools tr.pool-row")]
    expect(str(pool) in rows and str(other_pool) not in rows, f"pool rows {rows}: expected {pool} and not {other_pool}")
    for p in [f"/pools/{other_pool}", f"/pools/{other_pool}/members/{other_member}/control",
              f"/pools/{pool}/members/{other_member}/control", f"/pools/{other_pool}/failover"]:
        d.get(p, expect_status=404)
        log(f"{p}: 404 for account A")
    status, _, _ = d.fetch(f"/pools/{other_pool}/events", cookie=cookie["value"])
    expect(status == 404, f"/pools/{other_pool}/events with A's session: {status}, expected 404")

    # CSRF: the jobs form with its token removed, then with a wrong one → 403, nothing queued.
    jobs_tab = member_path(c, member, "jobs")
    for variant in ["removed", "wrong"]:
        d.get(jobs_tab)
        form = d.wait_for("form#enqueue-job")
        token = d.find("input[name=csrf]", form).get_attribute("value")
        expect(len(token) >= 16, f"the form's csrf token is {token!r}")
        if variant == "removed":
            d.driver.execute_script("arguments[0].remove()", d.find("input[name=csrf]", form))
        else:
            d.driver.execute_script("arguments[0].value = arguments[1]", d.find("input[name=csrf]", form),
                                    ("A" if token[0] != "A" else "B") + token[1:])
        Select(d.find("select[name=command]", form)).select_by_value("host.echo")
        d.find("textarea[name=params]", form).send_keys(json.dumps({"message": c["csrfProbe"]}))
        d.submit("form#enqueue-job")
        expect(d.status() == 403, f"enqueue with the csrf token {variant}: status {d.status()} at {d.path()}, expected 403")
        log(f"enqueue with the csrf token {variant}: 403")
    d.check_console()
    d.get(jobs_tab)
    token = d.find("form#enqueue-job input[name=csrf]").get_attribute("value")
    body = urllib.parse.urlencode({"command": "host.echo", "params": json.dumps({"message": c["csrfProbe"]})})
    status, _, _ = d.fetch(f"/pools/{pool}/members/{member}/jobs", "POST", body, cookie=cookie["value"])
    expect(status == 403, f"a scripted POST without csrf: {status}, expected 403")
    # A valid token of account A does not reach account B's member.
    body_b = urllib.parse.urlencode({"csrf": token, "command": "host.echo",
                                     "params": json.dumps({"message": c["csrfProbe"]})})
    status, _, _ = d.fetch(f"/pools/{other_pool}/members/{other_member}/jobs", "POST", body_b, cookie=cookie["value"])
    expect(status == 404, f"A's valid token posting to B's member: {status}, expected 404")
    log("scripted posts: no csrf 403; another account's member 404")

    # The CSP refuses an inline script, and the browser says so (the console check is live).
    d.get(f"/pools/{pool}")
    d.prove_csp_blocks_inline_script()
    d.check_console()
    d.check_pages()

    # Sign out (a form with its token: accepted); the old cookie no longer works.
    d.sign_out()
    status, headers, _ = d.fetch("/pools", cookie=cookie["value"])
    expect(status == 303 and headers.get("location", "").startswith("/signin"),
           f"/pools with the signed-out cookie: {status} → {headers.get('location')}, expected 303 to /signin")
    d.get("/pools", expect_status=None)
    expect(d.path().startswith("/signin"), f"after signing out /pools shows {d.path()}")
    log("signed out: the old session cookie is refused")

    # Account B sees its own pool (so the 404s above were about ownership).
    d.sign_in(c["userB"]["username"], c["userB"]["password"], next_path=f"/pools/{other_pool}", expect_status=200)
    expect(d.path() == f"/pools/{other_pool}", f"B signed in at {d.path()}")
    d.get(f"/pools/{pool}", expect_status=404)
    d.check_console()
    return {}


def pages(d, c):
    """Every page the contract lists: 200, at most 200 KB, the CSP and headers, no console
    violation; the static assets they load are served."""
    pool, member = c["pool"]["id"], c["members"][0]["id"]
    d.sign_in(c["user"]["username"], c["user"]["password"], next_path=f"/pools/{pool}", expect_status=200)
    wait_for_cards(d, 2)
    confirm = urllib.parse.urlsplit(d.find("a.make-active").get_attribute("href")).path
    paths = ["/pools", f"/pools/{pool}", f"/pools/{pool}/failover", f"/pools/{pool}/cut", confirm, "/fleet-map"]
    paths += [member_path(c, member, t) for t in TABS]
    # The stack tabs this member's heartbeat gives it (one per reported stack beyond the fixed tabs).
    d.get(member_path(c, member, "control"))
    stack_tabs = [a.get_attribute("data-tab") for a in d.find_all("nav.tabs a[data-tab^='stack-']")]
    log(f"stack tabs: {stack_tabs}")
    paths += [member_path(c, member, t) for t in stack_tabs]
    assets = set()
    missing, bad = [], set()
    for p in paths:
        status = d.get(p, expect_status=None)
        if status != 200:
            missing.append(f"{p}: {status}")
            bad.add(p)
            continue
        if p.endswith(tuple("/" + t for t in TABS)):
            tab = p.rsplit("/", 1)[1]
            cur = d.find_all("nav.tabs a[aria-current='page']")
            if not cur or cur[0].get_attribute("data-tab") != tab:
                missing.append(f"{p}: nav.tabs does not mark {tab} as the current tab")
        if p == "/fleet-map":
            d.screenshot("fleet-map")
        for el in d.find_all("link[rel=stylesheet], script[src], img[src]"):
            u = urllib.parse.urlsplit(el.get_attribute("href") or el.get_attribute("src"))
            assets.add(u.path + ("?" + u.query if u.query else ""))
        d.check_console()
    cookie = d.session_cookie()["value"]
    for a in sorted(assets):
        status, headers, body = d.fetch(a, cookie=cookie)
        log(f"asset {a}: {status}, {len(body)} bytes, {headers.get('content-type')}")
        if status != 200:
            missing.append(f"asset {a}: {status}")
    d.check_pages([p for p in paths if p not in bad], rendering=True)
    narrow = narrow_pages(d, [p for p in paths if p not in bad])
    expect(not missing, "pages missing or wrong:\n  " + "\n  ".join(missing))
    expect(not narrow, "pages wider than a 360 px phone:\n  " + "\n  ".join(narrow))
    return {"pages": len(paths), "assets": sorted(assets)}


def narrow_pages(d, paths, width=360):
    """Readable at 360 px: with a phone's viewport (Chromium's device emulation, as its DevTools
    do it), no page is wider than the screen — wide tables scroll inside their own box instead.
    Returns the pages that overflow, with the widest elements that stick out."""
    d.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                             {"width": width, "height": 780, "deviceScaleFactor": 1, "mobile": True})
    overflowing = []
    try:
        for p in paths:
            d.get(p, expect_status=None)
            scroll = d.driver.execute_script(
                "return Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
            if scroll > width:
                culprits = d.driver.execute_script("""
                    var w = arguments[0], out = [];
                    document.querySelectorAll('body *').forEach(function (e) {
                      var r = e.getBoundingClientRect();
                      if (r.right > w + 1 && out.length < 3) { out.push(e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + ' ' + Math.round(r.right)); }
                    });
                    return out;""", width)
                overflowing.append(f"{p}: {scroll} px wide ({', '.join(culprits)})")
            if p.endswith("/jobs"):
                d.screenshot("member-jobs-360px")
        log(f"{len(paths)} pages at {width} px: {len(overflowing)} wider than the screen")
    finally:
        d.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return overflowing


def rate_limit(d, c):
    """Four wrong passwords are refused (401, the username kept, the error said); after the
    fifth, even the right password gets 429 with when to retry."""
    user = c["limited"]
    for attempt in range(1, 6):
        status = d.sign_in(user["username"], f"wrong-password-{attempt}-x")
        error = d.text("#signin-error")
        log(f"wrong password {attempt}: {status}, {error!r}")
        if attempt < 5:
            expect(status == 401, f"wrong password {attempt}: status {status}, expected 401")
            kept = d.find("input[name=username]").get_attribute("value")
            expect(kept == user["username"], f"the form did not keep the username: {kept!r}")
        else:
            expect(status in (401, 429), f"wrong password 5: status {status}")
        expect(error.strip(), f"attempt {attempt}: no #signin-error text")
    status = d.sign_in(user["username"], user["password"])
    error = d.text("#signin-error")
    log(f"right password after 5 wrong: {status}, {error!r}")
    expect(status == 429, f"right password after 5 wrong ones: status {status}, expected 429")
    expect(error.strip(), "the 429 page has no #signin-error saying when to retry")
    expect(d.session_cookie() is None, "a session cookie was set while rate-limited")
    d.check_console()
    d.check_pages()  # signed out: the sign-in page's own headers
    wrong = urllib.parse.urlencode({"username": "nobody-here", "password": "wrong-password-x"})
    status, headers, body = d.fetch("/signin", "POST", wrong)
    log(f"scripted POST /signin: {status}, {len(body)} bytes")
    problems = header_problems(headers)
    expect(status in (401, 403, 429) and not problems, f"POST /signin answered {status} with header problems {problems}")
    return {}


SCENARIOS = {"overview": overview, "jobs": jobs, "make-active": make_active, "drain": drain,
             "security": security, "pages": pages, "rate-limit": rate_limit}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    parser.add_argument("--timeout", type=int, default=120, help="seconds before the scenario gives up")
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    args = parser.parse_args()
    config = load_config(args.config)
    started = time.monotonic()

    def out_of_time(signum, frame):
        raise ScenarioFailure(f"no end within {args.timeout} s")
    # A bounded run that still quits Chromium (the finally below) when a wait hangs.
    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(args.timeout)
    d = Dashboard(config)
    try:
        d.result.update(SCENARIOS[args.scenario](d, config) or {})
        log(f"scenario {args.scenario} passed in {time.monotonic() - started:.1f} s")
        return 0
    except ScenarioFailure as e:
        try:
            d.screenshot("failure-" + args.scenario)
        except Exception:
            pass
        print(f"FAILED: {args.scenario}: {e}", flush=True)
        return 1
    except Exception:
        traceback.print_exc(file=sys.stdout)
        try:
            d.screenshot("failure-" + args.scenario)
        except Exception:
            pass
        print(f"FAILED: {args.scenario}: the script broke at {d.driver.current_url}", flush=True)
        return 2
    finally:
        print("RESULT " + json.dumps(d.result), flush=True)
        d.close()


if __name__ == "__main__":
    sys.exit(main())
