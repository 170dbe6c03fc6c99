import BalctlProtocol
import Foundation

/// The host facts `balctl members show` prints from a member's latest heartbeat: pending
/// updates (`stacks.host.updates`), the firewall (`stacks.firewall`), SSH (`stacks.ssh`) and the
/// certificates expiring within 30 days (`stacks.host.certificates` and every stack's
/// `certificates: [{path, notAfter}]`, e.g. haproxy's). A fact the report lacks prints nothing.
///
/// The report is the agent's word: every string is cut and made printable before it reaches
/// the operator's terminal (a compromised member must not drive it with escape sequences).
public enum MemberFactsView {
    public static let soonDays = 30.0
    /// Certificates listed at most (then "… and N more").
    public static let maxCertificates = 10

    public static func lines(stacks: [String: JSONValue], now: Double) -> [String] {
        var out: [String] = []
        if let u = stacks["host"]?["updates"], case .object = u { out.append("updates  " + updates(u, now: now)) }
        if let f = stacks["firewall"], case .object = f { out.append("firewall " + firewall(f)) }
        if let s = stacks["ssh"], case .object = s { out.append("ssh      " + ssh(s)) }
        out += certificates(stacks, now: now)
        return out
    }

    static func updates(_ u: JSONValue, now: Double) -> String {
        let manager = u["manager"]?.stringValue.map { " (\(text($0, 16)))" } ?? ""
        var parts: [String]
        if let e = u["error"]?.stringValue {
            parts = ["check failed\(manager): \(text(e, 200))"]
        } else {
            let pending = count(u["pending"]), security = count(u["security"])
            parts = ["\(pending) pending, \(security) security\(manager)"]
            if let reboot = u["rebootRequired"]?.boolValue { parts.append(reboot ? "REBOOT REQUIRED" : "no reboot required") }
        }
        if let at = checkedAgo(u["checkedAt"], now: now) { parts.append("checked \(at) ago") }
        return parts.joined(separator: " · ")
    }

    static func firewall(_ f: JSONValue) -> String {
        var parts = [text(f["tool"]?.stringValue ?? "?", 16)]
        if f["supported"]?.boolValue == false {
            parts.append(text(f["note"]?.stringValue ?? "not supported", 80))
            return parts.joined(separator: " · ")
        }
        parts[0] += (f["active"]?.boolValue == true) ? " active" : " INACTIVE"
        if let zone = f["defaultZone"]?.stringValue { parts.append("zone \(text(zone, 32))") }
        var defaults: [String] = []
        for (key, name) in [("defaultIncoming", "incoming"), ("defaultOutgoing", "outgoing"), ("defaultRouted", "routed")] {
            if let v = f[key]?.stringValue { defaults.append("\(name) \(text(v, 16))") }
        }
        if !defaults.isEmpty { parts.append("default " + defaults.joined(separator: ", ")) }
        if let n = f["rules"]?.doubleValue { parts.append("\(Render.integer(max(0, n))) rule\(n == 1 ? "" : "s")") }
        return parts.joined(separator: " · ")
    }

    static func ssh(_ s: JSONValue) -> String {
        var parts = [text(s["service"]?.stringValue ?? "sshd", 32) + ((s["active"]?.boolValue == true) ? " active" : " INACTIVE")]
        if case .array(let ports)? = s["ports"] {
            let list = ports.prefix(16).compactMap { $0.doubleValue.map { String(Render.integer($0)) } }
            if !list.isEmpty { parts.append("port\(list.count == 1 ? "" : "s") \(list.joined(separator: ","))") }
        }
        if let pw = s["passwordAuthentication"]?.boolValue { parts.append("password login \(pw ? "yes" : "no")") }
        if let root = s["permitRootLogin"]?.stringValue { parts.append("root login \(text(root, 32))") }
        return parts.joined(separator: " · ")
    }

    /// "certs    …" lines: the soonest of the host's configured certificates and each stack's
    /// listed certificate expiring within 30 days (or already expired), soonest first.
    static func certificates(_ stacks: [String: JSONValue], now: Double) -> [String] {
        var soon: [(days: Double, line: String)] = []
        var seen = 0
        var notes: [String] = []
        if let c = stacks["host"]?["certificates"], case .object = c {
            if let e = c["error"]?.stringValue {
                notes.append("host: \(text(e, 200))")
            } else {
                seen += count(c["count"])
                if let days = c["soonestDays"]?.doubleValue, days < soonDays {
                    let more = count(c["expiringWithin30Days"]) - 1
                    soon.append((days, "host \(text(c["soonestPath"]?.stringValue ?? "?", 160)): \(daysText(days))"
                                 + (more > 0 ? " (and \(more) more of the configured paths)" : "")))
                }
                if let at = checkedAgo(c["checkedAt"], now: now) { notes.append("host paths checked \(at) ago") }
            }
        }
        for (stack, value) in stacks.sorted(by: { $0.key < $1.key }) {
            guard case .array(let certs)? = value["certificates"] else { continue }
            for cert in certs.prefix(256) {
                guard let notAfter = cert["notAfter"]?.doubleValue, notAfter.isFinite else { continue }
                seen += 1
                let days = ((notAfter - now) / 86_400).rounded(.down)
                if days < soonDays {
                    soon.append((days, "\(text(stack, 32)) \(text(cert["path"]?.stringValue ?? "?", 160)): \(daysText(days))"))
                }
            }
        }
        guard seen > 0 || !notes.isEmpty else { return [] }
        let suffix = notes.isEmpty ? "" : " (\(notes.joined(separator: "; ")))"
        guard !soon.isEmpty else { return ["certs    none of \(seen) expiring within 30 days" + suffix] }
        soon.sort { $0.days < $1.days }
        var lines = ["certs    \(soon.count) expiring within 30 days" + suffix]
        lines += soon.prefix(maxCertificates).map { "         " + $0.line }
        if soon.count > maxCertificates { lines.append("         … and \(soon.count - maxCertificates) more") }
        return lines
    }

    static func daysText(_ days: Double) -> String {
        days < 0 ? "EXPIRED \(Render.integer(-days)) day\(Render.integer(-days) == 1 ? "" : "s") ago" : "\(Render.integer(days)) day\(Render.integer(days) == 1 ? "" : "s") left"
    }

    static func count(_ v: JSONValue?) -> Int {
        guard let d = v?.doubleValue, d.isFinite else { return 0 }
        return Int(min(max(d, 0), 1e9))
    }

    static func checkedAgo(_ v: JSONValue?, now: Double) -> String? {
        guard let s = v?.stringValue else { return nil }
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let plain = ISO8601DateFormatter()
        guard let date = f.date(from: s) ?? plain.date(from: s) else { return nil }
        return Render.age(max(0, now - date.timeIntervalSince1970))
    }

    /// A report string for the terminal: controls (C0, DEL, C1) and bidi overrides as '?', cut
    /// at `max` characters.
    static func text(_ s: String, _ max: Int) -> String {
        var out = ""
        var n = 0
        for u in s.unicodeScalars {
            if n == max { out += "…"; break }
            let v = u.value
            let bad = v < 0x20 || (0x7f...0x9f).contains(v) || (0x202a...0x202e).contains(v) || (0x2066...0x2069).contains(v)
            out.unicodeScalars.append(bad ? "?" : u)
            n += 1
        }
        return out
    }
}
