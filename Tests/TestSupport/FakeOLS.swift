import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// OpenLiteSpeed configuration fixtures (see Fixtures/OpenLiteSpeed/README.md).
public enum OLSFixture {
    public static func url(_ name: String) -> URL {
        Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures/OpenLiteSpeed")!
    }
    public static func bytes(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: url(name))) }
    public static let all = ["httpd_config.conf", "vhconf.conf", "ccl.conf", "farm_httpd_config.conf", "shop_vhconf.conf", "blog_vhconf.conf"]
}

/// A throwaway OLS server root built from the fixtures, with a fake `lswsctrl` and `lshttpd`
/// that log every call to `fake-calls.log` and behave like the real ones: `status` text, a
/// graceful restart (`reload`/`restart`) that starts a new server process (a new PID in
/// `logs/lshttpd.pid`), `lshttpd -v` and `-t`. Files in the root steer them: `fail-test` makes
/// `lshttpd -t` report an error, `no-dash-t` makes it answer with its usage (a version without
/// `-t`), `fail-reload` makes reload/restart fail.
public final class FakeOLS: @unchecked Sendable {
    public let root: String

    public init(farm: Bool = false, running: Bool = true) throws {
        root = NSTemporaryDirectory() + "balctl-ols-" + UUID().uuidString.prefix(8)
        let fm = FileManager.default
        for dir in ["bin", "conf/vhosts/Example", "conf/templates", "conf/cert", "logs", "fcgi-bin", "Example/html",
                    "lsphp81/bin", "lsphp82/bin", "state"] + (farm ? ["blog/html", "conf/vhosts/shop", "conf/vhosts/blog"] : []) {
            try fm.createDirectory(atPath: root + "/" + dir, withIntermediateDirectories: true)
        }
        if farm {
            try write("conf/httpd_config.conf", OLSFixture.bytes("farm_httpd_config.conf"))
            try write("conf/vhosts/shop/vhconf.conf", OLSFixture.bytes("shop_vhconf.conf"))
            try write("conf/vhosts/blog/vhconf.conf", OLSFixture.bytes("blog_vhconf.conf"))
            try write("conf/cert/farm.key", Array("key\n".utf8))
            try write("conf/cert/farm.crt", Array("crt\n".utf8))
        } else {
            try write("conf/httpd_config.conf", OLSFixture.bytes("httpd_config.conf"))
            try write("conf/vhosts/Example/vhconf.conf", OLSFixture.bytes("vhconf.conf"))
        }
        for t in ["ccl.conf", "phpsuexec.conf", "rails.conf"] { try write("conf/templates/" + t, OLSFixture.bytes("ccl.conf")) }
        try write("conf/mime.properties", Array("html = text/html\n".utf8))
        try write("VERSION", Array("1.7.19\n".utf8))
        for exe in ["fcgi-bin/lsphp", "lsphp81/bin/lsphp", "lsphp82/bin/lsphp"] { try write(exe, Array("#!/bin/sh\nexit 0\n".utf8), mode: 0o755) }
        try write("bin/lswsctrl", Array(Self.lswsctrl.utf8), mode: 0o755)
        try write("bin/lshttpd", Array(Self.lshttpd.utf8), mode: 0o755)
        // As installed: OLS's admin user (lsadm; uid 4242 here) owns conf/ and what is in it, so
        // a link planted there is not root's own.
        for dir in ["conf", "conf/vhosts", "conf/vhosts/Example", "conf/vhosts/shop", "conf/vhosts/blog"] where exists(dir) {
            chown(root + "/" + dir, 4242, 4242)
        }
        if running { try control("start") }
    }

    deinit {
        try? control("stop")
        try? FileManager.default.removeItem(atPath: root)
    }

    public func write(_ rel: String, _ bytes: [UInt8], mode: Int = 0o644) throws {
        let path = root + "/" + rel
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }

    public func read(_ rel: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: root + "/" + rel))) }
    public func exists(_ rel: String) -> Bool { FileManager.default.fileExists(atPath: root + "/" + rel) }
    public func flag(_ name: String, _ on: Bool = true) throws {
        if on { try write(name, []) } else { try? FileManager.default.removeItem(atPath: root + "/" + name) }
    }

    /// Every program call the fakes saw, one line each ("lswsctrl reload", "lshttpd -t").
    public var calls: [String] {
        (try? String(contentsOfFile: root + "/fake-calls.log", encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
    }
    public func clearCalls() { try? FileManager.default.removeItem(atPath: root + "/fake-calls.log") }
    public var pid: Int32? {
        (try? String(contentsOfFile: root + "/logs/lshttpd.pid", encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Run the fake control script directly (setup and teardown, not logged as a handler call).
    public func control(_ verb: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: root + "/bin/lswsctrl")
        p.arguments = [verb]
        p.environment = ["FAKE_OLS_QUIET": "1", "PATH": "/usr/bin:/bin"]
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
    }

    static let lswsctrl = """
    #!/bin/bash
    # Fake OpenLiteSpeed control script for tests: answers like lswsctrl, logs its calls.
    ROOT="$(cd "$(dirname "$0")/.." && pwd)"
    [ -z "$FAKE_OLS_QUIET" ] && echo "lswsctrl $*" >> "$ROOT/fake-calls.log"
    PIDFILE="$ROOT/logs/lshttpd.pid"
    running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }
    # The server process: a sleeper in its own session holding no descriptor of the caller's
    # (a pipe it kept open would make the caller wait for it).
    launch() {
      ( for fd in /proc/self/fd/*; do n="${fd##*/}"; [ "$n" -gt 2 ] && eval "exec $n>&-"; done 2>/dev/null
        exec setsid sleep 600 </dev/null >/dev/null 2>&1 ) &
      echo $! > "$PIDFILE"
    }
    case "$1" in
      status)
        if running; then echo "litespeed is running with PID $(cat "$PIDFILE")."; else echo "[ERROR] litespeed is not running."; fi ;;
      start)
        if running; then echo "[ERROR] litespeed is already running."; exit 1; fi
        launch; echo "[OK] litespeed: pid=$(cat "$PIDFILE")." ;;
      stop)
        running && kill "$(cat "$PIDFILE")"; rm -f "$PIDFILE"; echo "[OK] litespeed: stopped." ;;
      restart|reload)
        if [ -f "$ROOT/fail-reload" ]; then echo "[ERROR] litespeed failed to restart: bad config"; exit 1; fi
        old=""; running && old="$(cat "$PIDFILE")"
        launch; [ -n "$old" ] && kill "$old"
        echo "[OK] Send SIGUSR1 to $old" ;;
      *)
        echo "Usage: lswsctrl {start|stop|restart|reload|condrestart|try-restart|status|help|fg}"; exit 2 ;;
    esac
    """

    static let lshttpd = """
    #!/bin/bash
    # Fake lshttpd for tests: -v and -t like the real one, logs its calls.
    ROOT="$(cd "$(dirname "$0")/.." && pwd)"
    echo "lshttpd $*" >> "$ROOT/fake-calls.log"
    case "$1" in
      -v) echo "LiteSpeed/1.7.19 Open (BUILD built: Tue Nov 24 2026)"; echo "  module versions:"; exit 0 ;;
      -t)
        if [ -f "$ROOT/no-dash-t" ]; then echo "lshttpd: invalid option -- 't'"; echo "Usage: lshttpd [-v] [-n] [-d]"; exit 1; fi
        if [ -f "$ROOT/fail-test" ]; then echo "[ERROR] [config:server] unknown directive near line 12"; exit 1; fi
        echo "[OK] configuration test passed"; exit 0 ;;
      *) echo "lshttpd: invalid option -- '$1'"; exit 1 ;;
    esac
    """
}
