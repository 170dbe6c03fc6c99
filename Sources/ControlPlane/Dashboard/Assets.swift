import Crypto
import Foundation

/// The dashboard's only static files, embedded so the binary needs nothing beside it. Served
/// under /static/ with a content hash in the query string: cached for a year, and a new build's
/// files get new URLs.
enum DashboardAssets {
    struct Asset: Sendable {
        let body: String
        let contentType: String
        let version: String
        init(_ body: String, _ contentType: String) {
            self.body = body
            self.contentType = contentType
            self.version = String(Secrets.hex(SHA256.hash(data: Data(body.utf8))).prefix(12))
        }
    }

    static let css = Asset(stylesheet, "text/css; charset=utf-8")
    static let js = Asset(script, "text/javascript; charset=utf-8")
    static let world = Asset(worldSVG, "image/svg+xml")

    static func url(_ name: String, _ a: Asset) -> String { "/static/\(name)?v=\(a.version)" }
    static let byName: [String: Asset] = ["app.css": css, "app.js": js, "world.svg": world]

    /// A world outline drawn for balctl (equirectangular, 1 unit = 1 degree): x = lon + 180, y = 90 − lat.
    static let worldSVG = ##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 360 180" width="360" height="180"><rect width="360" height="180" fill="#eaf2f8"/><g fill="#c9d6c3" stroke="#7a8f74" stroke-width="0.4"><path d="M12,24 L40,20 L85,18 L100,17 L118,30 L125,40 L114,46 L104,55 L99,65 L90,61 L83,64 L83,71 L92,74 L97,81 L102,82 L93,77 L75,70 L68,60 L62,56 L56,50 L56,42 L45,32 L28,31 L15,36 L22,32 L12,24Z"/><path d="M125,30 L137,30 L160,20 L162,10 L145,7 L120,8 L108,12 L122,15 L125,30Z"/><path d="M102,82 L120,80 L130,90 L145,96 L140,112 L132,118 L122,128 L115,135 L112,145 L106,140 L108,120 L110,108 L100,95 L102,82Z"/><path d="M170,54 L171,47 L178,46 L175,42 L182,39 L188,36 L190,33 L185,30 L190,26 L198,20 L210,19 L222,23 L240,22 L240,35 L230,45 L220,48 L208,49 L206,52 L202,53 L198,50 L192,46 L195,52 L188,46 L183,47 L179,53 L170,54Z"/><path d="M163,69 L170,60 L175,54 L190,53 L200,58 L212,59 L215,62 L223,78 L231,78 L220,92 L220,105 L213,115 L200,125 L197,119 L192,107 L193,96 L188,86 L175,85 L168,83 L163,75 L163,69Z"/><path d="M208,49 L216,54 L215,60 L223,77 L232,73 L237,66 L242,65 L247,66 L253,70 L257,82 L260,75 L268,68 L272,69 L278,74 L284,89 L289,78 L288,69 L297,66 L301,59 L302,50 L307,55 L310,47 L321,42 L323,31 L340,28 L360,24 L360,20 L320,17 L290,13 L260,17 L240,22 L240,35 L230,45 L220,48 L208,49Z"/><path d="M294,112 L302,108 L311,102 L317,102 L322,101 L326,109 L333,116 L330,127 L320,128 L311,121 L295,124 L294,112Z"/><path d="M310,59 L315,56 L320,54 L322,49 L321,45 L319,50 L312,56 L310,59Z"/><path d="M175,40 L181,39 L180,37 L178,34 L175,32 L174,35 L177,36 L175,40Z"/><path d="M352,124 L358,128 L354,131 L347,136 L352,124Z"/><path d="M224,115 L230,105 L229,102 L224,107 L224,115Z"/><path d="M275,85 L285,96 L295,98 L300,99 L305,99 L298,94 L290,92 L284,88 L275,85Z"/></g></svg>"##

    static let stylesheet = """
        :root { --fg: #1d2433; --muted: #5b6577; --line: #d5dae3; --bg: #f6f7f9; --accent: #1f5fbf; --ok: #1c7c3a; --bad: #b3261e; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 16px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
        header.top { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; padding: .6rem 1rem; background: #fff; border-bottom: 1px solid var(--line); }
        header.top form { display: inline; margin: 0; }
        .brand { font-weight: 700; text-decoration: none; color: var(--fg); }
        .pools-nav a { margin-right: .6rem; }
        .who { margin-left: auto; color: var(--muted); }
        main { padding: 1rem; max-width: 72rem; margin: 0 auto; }
        footer { padding: 1rem; color: var(--muted); font-size: .85rem; text-align: center; }
        a { color: var(--accent); }
        a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible { outline: 3px solid #f0a202; outline-offset: 2px; }
        button, .button { font: inherit; padding: .35rem .8rem; border: 1px solid var(--accent); background: var(--accent); color: #fff; border-radius: 4px; cursor: pointer; text-decoration: none; display: inline-block; }
        header.top button { background: #fff; color: var(--accent); }
        button.danger { background: var(--bad); border-color: var(--bad); }
        label { display: block; margin-top: .6rem; font-weight: 600; }
        input[type=checkbox] + label { display: inline; }
        input, select, textarea { font: inherit; width: 100%; max-width: 32rem; padding: .35rem; border: 1px solid var(--line); border-radius: 4px; }
        input[type=checkbox] { width: auto; }
        form.card button[type=submit], form.card > button { margin-top: .8rem; }
        .card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 1rem; }
        .narrow { max-width: 28rem; }
        .error { color: var(--bad); font-weight: 600; }
        .warning { color: #8a5a00; }
        .notice { background: #eef5ff; padding: .5rem; border-radius: 4px; }
        .muted { color: var(--muted); }
        table { border-collapse: collapse; width: 100%; background: #fff; display: block; overflow-x: auto; }
        th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
        .kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(9rem, 1fr)); gap: .6rem; }
        .kpi { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .6rem; }
        .kpi-value { font-size: 1.5rem; font-weight: 700; display: block; }
        .kpi-label { color: var(--muted); font-size: .85rem; }
        .flow { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .6rem; overflow-wrap: anywhere; }
        .cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(16rem, 1fr)); gap: .8rem; }
        .member-card { background: #fff; border: 1px solid var(--line); border-left: 5px solid var(--muted); border-radius: 6px; padding: .6rem .8rem; }
        .member-card.role-active { border-left-color: var(--ok); }
        .member-card.role-standby { border-left-color: var(--accent); }
        .member-card h2 { font-size: 1.1rem; margin: 0 0 .3rem; overflow-wrap: anywhere; }
        .member-card p { margin: .2rem 0; }
        .ready-ok { color: var(--ok); }
        .ready-bad { color: var(--bad); }
        svg.sparkline { width: 100%; height: 32px; display: block; }
        svg.sparkline polyline { fill: none; stroke: var(--accent); stroke-width: 1.5; }
        .tabs { display: flex; flex-wrap: wrap; gap: .3rem; border-bottom: 1px solid var(--line); margin: .6rem 0 1rem; }
        .tabs a { padding: .35rem .7rem; text-decoration: none; border-radius: 4px 4px 0 0; }
        .tabs a[aria-current=page] { background: #fff; border: 1px solid var(--line); border-bottom-color: #fff; font-weight: 600; }
        .changes dt { font-weight: 600; }
        .changes dd { margin: 0 0 .4rem; }
        .facts dt { font-weight: 600; }
        .facts dd { margin: 0 0 .3rem; overflow-wrap: anywhere; }
        pre { background: #fff; border: 1px solid var(--line); padding: .6rem; overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere; }
        .map svg { width: 100%; height: auto; background: #fff; }
        circle.map-member { fill: var(--bad); stroke: #fff; stroke-width: .5; }
        .state-completed { color: var(--ok); }
        .state-failed, .state-cancelled { color: var(--bad); }
        @media (max-width: 480px) { main { padding: .5rem; } .kpi-value { font-size: 1.2rem; } }
        """

    /// Progressive enhancement only: every page works without it. Live updates (Server-Sent
    /// Events swap elements by id / data attribute), confirmations, local times.
    static let script = """
        "use strict";
        (function () {
          function localTimes(root) {
            root.querySelectorAll("time[datetime]").forEach(function (t) {
              var d = new Date(t.getAttribute("datetime"));
              if (!isNaN(d)) { t.textContent = d.toLocaleString(); }
            });
          }
          function ages(root) {
            root.querySelectorAll(".heartbeat-age[data-received]").forEach(function (e) {
              var d = new Date(e.getAttribute("data-received"));
              if (isNaN(d)) { return; }
              var s = Math.max(0, Math.round((Date.now() - d.getTime()) / 1000));
              e.textContent = s < 120 ? s + " s ago" : Math.round(s / 60) + " min ago";
            });
          }
          // A live update swaps a whole card; the control that had the keyboard focus in it gets
          // it back in the new card (found by id, link or name), so a keyboard user is not thrown
          // to the top of the page every heartbeat.
          function focusKey(el) {
            if (el.id) { return "#" + CSS.escape(el.id); }
            var href = el.getAttribute("href");
            if (href) { return el.tagName.toLowerCase() + '[href="' + CSS.escape(href) + '"]'; }
            if (el.name) { return el.tagName.toLowerCase() + '[name="' + CSS.escape(el.name) + '"]'; }
            return null;
          }
          function swap(old, n) {
            var focused = document.activeElement;
            var key = focused && focused !== document.body && old.contains(focused) ? focusKey(focused) : null;
            old.replaceWith(n);
            if (key) { var again = n.querySelector(key); if (again) { again.focus(); } }
          }
          function fragment(html) {
            var t = document.createElement("template");
            t.innerHTML = html.trim();
            return t.content.firstElementChild;
          }
          document.addEventListener("submit", function (ev) {
            var msg = ev.target.getAttribute("data-confirm");
            if (msg && !window.confirm(msg)) { ev.preventDefault(); }
          });
          document.addEventListener("DOMContentLoaded", function () {
            localTimes(document);
            ages(document);
            setInterval(function () { ages(document); }, 1000);
            var live = document.querySelector("[data-events]");
            if (!live || !window.EventSource) { return; }
            var only = live.getAttribute("data-member-id");
            var es = new EventSource(live.getAttribute("data-events"));
            es.addEventListener("member", function (e) {
              var d = JSON.parse(e.data);
              var old = document.querySelector('.member-card[data-member-id="' + d.id + '"]');
              if (old) { var n = fragment(d.html); swap(old, n); localTimes(n); ages(n); }
            });
            es.addEventListener("job", function (e) {
              var d = JSON.parse(e.data);
              if (only && String(d.memberID) !== only) { return; }
              var body = document.querySelector("#job-timeline tbody");
              if (!body) { return; }
              var n = fragment("<table><tbody>" + d.html + "</tbody></table>").querySelector("tr");
              var old = body.querySelector('tr.job-row[data-job-id="' + d.id + '"]');
              if (old) { swap(old, n); } else { body.insertBefore(n, body.firstChild); }
              localTimes(n);
            });
            es.addEventListener("failover", function (e) {
              var d = JSON.parse(e.data);
              var old = document.getElementById("traffic-flow");
              if (old) { swap(old, fragment(d.html)); }
            });
            es.addEventListener("haproxy", function (e) {
              var d = JSON.parse(e.data);
              if (only && String(d.memberID) !== only) { return; }
              document.querySelectorAll("tr.haproxy-server").forEach(function (row) {
                if (row.getAttribute("data-backend") !== d.backend || row.getAttribute("data-server") !== d.server) { return; }
                var cells = { ".server-status": d.status, ".server-sessions": d.scur, ".server-check": d.check };
                Object.keys(cells).forEach(function (sel) { var c = row.querySelector(sel); if (c) { c.textContent = cells[sel]; } });
              });
            });
            es.addEventListener("kpis", function (e) {
              var d = JSON.parse(e.data);
              Object.keys(d).forEach(function (k) {
                var v = document.querySelector('.kpi[data-kpi="' + k + '"] .kpi-value');
                if (v) { v.textContent = d[k]; }
              });
            });
          });
        })();
        """
}
