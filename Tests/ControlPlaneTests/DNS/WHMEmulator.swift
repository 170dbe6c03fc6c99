import Foundation
import TestSupport
import Synchronization

/// WHM API 1 contract emulator, written from cPanel's public API documentation:
/// - https://api.docs.cpanel.net/whm/tokens/ — `Authorization: whm USER:TOKEN`, calls over
///   `GET /json-api/<function>?api.version=1&…`;
/// - https://api.docs.cpanel.net/openapi/whm/operation/parse_dns_zone/ — the zone as lines:
///   `{line_index, type: record|comment|control, record_type, ttl, dname_b64, data_b64[]}`
///   (names and data base64; the SOA's third datum is the serial; a record may span lines);
/// - https://api.docs.cpanel.net/openapi/whm/operation/mass_edit_dns_zone/ — `zone`, `serial`
///   (must match the zone's, else the edit fails), `add`/`edit` (JSON objects with `dname`,
///   `ttl`, `record_type`, `data`, and `line_index` for edits), `remove` (line indexes, repeated);
///   answers `data.new_serial`. The docs say records not removed keep their number of lines; this
///   emulator reads every line index of one call against the zone as it was before that call;
/// - https://api.docs.cpanel.net/openapi/whm/operation/version/ — `data.version`;
/// - the envelope `{"metadata":{"command","reason","result":1|0,"version":1},"data":…}` shown on
///   those pages; `result: 0` carries WHM's reason.
/// The docs do not describe the answer to a refused token, nor rate limiting (a proxy or
/// cPHulk in front of WHM): those answers here (403 with an envelope, 429 / 503 with a text body)
/// are the shapes the provider must cope with, not WHM's exact bytes.
/// Any request outside the contract (method, path, parameters, header, body) is recorded as a
/// violation, which the tests require to stay empty.
final class WHMEmulator: @unchecked Sendable {  // `server` is set once in init
    let user: String
    let token: String
    let zoneName: String

    /// One entry of the zone file; `lines` > 1 for records spanning lines (the SOA).
    struct Entry: Sendable {
        var kind: String  // record, comment, control
        var recordType = ""
        /// As written in the zone: relative ("www"), "@" or absolute ("www.example.com.").
        var dname = ""
        var ttl = 14400
        var data: [String] = []
        var lines = 1
    }

    /// What the next calls do instead of the documented success.
    struct Faults: Sendable {
        var rateLimited = false
        var unavailable = false
        /// mass_edit_dns_zone answers result 0 with this reason.
        var refuseEdits: String?
        /// mass_edit_dns_zone answers OK but changes nothing (a lying server).
        var ignoreEdits = false
        /// Another administrator edits the zone just before the next mass_edit_dns_zone.
        var concurrentEdit = false
        /// parse_dns_zone answers more than 1 MiB.
        var oversized = false
        /// parse_dns_zone lists the SOA serial as something that is not base64.
        var garbledSOA = false
    }

    private struct State {
        var entries: [Entry]
        var faults = Faults()
    }
    private let state: Mutex<State>
    private let recorder = ContractRecorder()
    private var server: TinyHTTPServer!

    var baseURL: String { "http://127.0.0.1:\(server.port)" }
    var log: [String] { recorder.log }
    var violations: [String] { recorder.violations }
    func faults(_ change: (inout Faults) -> Void) { state.withLock { change(&$0.faults) } }
    var serial: Int { state.withLock { Int(Self.soa($0.entries)?.data[2] ?? "") ?? -1 } }

    init(user: String = "reseller1", token: String = "ZYXWVUTSRQ9876543210ABCDEFGHIJKL", zoneName: String = "example.com") throws {
        self.user = user
        self.token = token
        self.zoneName = zoneName
        state = Mutex(State(entries: [
            Entry(kind: "comment", data: ["; cPanel first:110.0.18 Cpanel::ZoneFile::VERSION:1.3 hostname:server.example.net"]),
            Entry(kind: "comment", data: ["; Zone file for \(zoneName)"]),
            Entry(kind: "control", data: ["$TTL 14400"]),
            Entry(kind: "record", recordType: "SOA", dname: "\(zoneName).", ttl: 86400,
                  data: ["ns1.example.net.", "hostmaster.example.net.", "2026112701", "3600", "1800", "1209600", "86400"], lines: 7),
            Entry(kind: "record", recordType: "NS", dname: "\(zoneName).", ttl: 86400, data: ["ns1.example.net."]),
            Entry(kind: "record", recordType: "NS", dname: "\(zoneName).", ttl: 86400, data: ["ns2.example.net."]),
            Entry(kind: "record", recordType: "A", dname: "\(zoneName).", data: ["198.51.100.80"]),
            Entry(kind: "record", recordType: "TXT", dname: "app", data: ["v=spf1 -all"]),
        ]))
        server = try TinyHTTPServer { [weak self] r in
            self?.handle(r) ?? .init(status: 503, body: Data())
        }
    }

    deinit { server.stop() }

    /// Add an A record as an administrator would (relative or absolute name).
    func seedA(_ dname: String, _ ip: String, ttl: Int = 14400) {
        state.withLock { $0.entries.append(Entry(kind: "record", recordType: "A", dname: dname, ttl: ttl, data: [ip])) }
    }

    /// The A records at `name` ("app.example.com"), whatever spelling the zone uses.
    func aRecords(_ name: String) -> [(ip: String, ttl: Int)] {
        state.withLock { s in
            s.entries.filter { $0.kind == "record" && $0.recordType == "A" && absolute($0.dname) == name.lowercased() + "." }
                .map { ($0.data.first ?? "", $0.ttl) }
        }
    }

    /// The records other than A and SOA (whose serial every edit bumps), to prove an edit left
    /// them alone.
    var otherRecords: [String] {
        state.withLock { s in s.entries.filter { $0.kind == "record" && !["A", "SOA"].contains($0.recordType) }
            .map { "\(absolute($0.dname)) \($0.recordType) \($0.data.joined(separator: " "))" } }
    }

    // MARK: - protocol

    private func absolute(_ dname: String) -> String {
        if dname == "@" { return zoneName + "." }
        return dname.hasSuffix(".") ? dname.lowercased() : "\(dname.lowercased()).\(zoneName)."
    }

    private static func soa(_ entries: [Entry]) -> Entry? { entries.first { $0.recordType == "SOA" } }

    private func envelope(_ command: String, result: Int = 1, reason: String = "OK", data: Any? = nil,
                          status: Int = 200) -> TinyHTTPServer.Response {
        let obj: [String: Any] = [
            "metadata": ["command": command, "reason": reason, "result": result, "version": 1] as [String: Any],
            "data": data ?? NSNull(),
        ]
        return .init(status: status, headers: ["Content-Type": "application/json"],
                     body: try! JSONSerialization.data(withJSONObject: obj))
    }

    private func violation(_ what: String, _ r: TinyHTTPServer.Request) -> TinyHTTPServer.Response {
        recorder.violation(what, r)
        return envelope(r.path.split(separator: "/").last.map(String.init) ?? "", result: 0, reason: "Unknown app (\(r.path)) requested for this version (1) of the API.")
    }

    func handle(_ r: TinyHTTPServer.Request) -> TinyHTTPServer.Response {
        recorder.request(r)
        let p = r.path.split(separator: "/").map(String.init)
        guard r.method == "GET", r.body.isEmpty else { return violation("WHM API 1 calls are bare GETs", r) }
        guard p.count == 2, p[0] == "json-api" else { return violation("not /json-api/<function>", r) }
        guard r.queryItems.filter({ $0.name == "api.version" }).map(\.value) == ["1"] else {
            return violation("api.version=1 missing or repeated", r)
        }
        guard let auth = r.headers["authorization"], auth.hasPrefix("whm "), auth.dropFirst(4).contains(":") else {
            return violation("Authorization is not 'whm USER:TOKEN': \(r.headers["authorization"] ?? "none")", r)
        }
        let faults = state.withLock { $0.faults }
        if faults.rateLimited {
            return .init(status: 429, headers: ["Retry-After": "17", "Content-Type": "text/plain"],
                         body: Data("Too many requests from 127.0.0.1: try again later".utf8))
        }
        if faults.unavailable {
            return .init(status: 503, headers: ["Content-Type": "text/plain"], body: Data("cpsrvd is restarting".utf8))
        }
        guard auth == "whm \(user):\(token)" else {
            return envelope(p[1], result: 0, reason: "Access denied", status: 403)
        }
        let params = r.queryItems.filter { $0.name != "api.version" }
        switch p[1] {
        case "version":
            guard params.isEmpty else { return violation("version takes no parameters: \(params)", r) }
            return envelope("version", data: ["version": "11.118.0.12"])
        case "parse_dns_zone":
            guard params.map(\.name) == ["zone"] else { return violation("parse_dns_zone takes zone= only: \(params)", r) }
            guard params[0].value == zoneName else {
                return envelope("parse_dns_zone", result: 0, reason: "You do not control a DNS zone named “\(params[0].value)”.")
            }
            if faults.oversized {
                return .init(status: 200, headers: ["Content-Type": "application/json"],
                             body: Data(repeating: UInt8(ascii: " "), count: 2 << 20))
            }
            return envelope("parse_dns_zone", data: ["payload": payload(garbledSOA: faults.garbledSOA)])
        case "mass_edit_dns_zone":
            return massEdit(params, r, faults)
        default:
            return violation("function \(p[1]) is not one a DNS provider needs", r)
        }
    }

    private func payload(garbledSOA: Bool) -> [[String: Any]] {
        func b64(_ s: String) -> String { Data(s.utf8).base64EncodedString() }
        return state.withLock { s in
            var line = 0
            var out: [[String: Any]] = []
            for e in s.entries {
                if e.kind == "record" {
                    var data = e.data.map(b64)
                    if garbledSOA, e.recordType == "SOA" { data[2] = "%%not-base64%%" }
                    out.append(["line_index": line, "type": "record", "record_type": e.recordType, "ttl": e.ttl,
                                "dname_b64": b64(e.dname), "data_b64": data])
                } else {
                    out.append(["line_index": line, "type": e.kind, "text_b64": b64(e.data.first ?? "")])
                }
                line += e.lines
            }
            return out
        }
    }

    private func massEdit(_ params: [(name: String, value: String)], _ r: TinyHTTPServer.Request,
                          _ faults: Faults) -> TinyHTTPServer.Response {
        let cmd = "mass_edit_dns_zone"
        guard params.allSatisfy({ ["zone", "serial", "add", "edit", "remove"].contains($0.name) }) else {
            return violation("unknown parameter in \(params.map(\.name))", r)
        }
        let zones = params.filter { $0.name == "zone" }.map(\.value)
        let serials = params.filter { $0.name == "serial" }.map(\.value)
        guard zones.count == 1, serials.count == 1, let serial = Int(serials[0]), serial >= 0 else {
            return violation("zone and serial are required once each: \(params)", r)
        }
        guard zones[0] == zoneName else {
            return envelope(cmd, result: 0, reason: "You do not control a DNS zone named “\(zones[0])”.")
        }
        if let reason = faults.refuseEdits { return envelope(cmd, result: 0, reason: reason) }
        var edits: [(line: Int, entry: Entry)] = []
        var adds: [Entry] = []
        var removes: [Int] = []
        for (name, value) in params where ["add", "edit"].contains(name) {
            guard let obj = try? JSONSerialization.jsonObject(with: Data(value.utf8)) as? [String: Any],
                  Set(obj.keys) == (name == "edit" ? ["line_index", "dname", "ttl", "record_type", "data"] : ["dname", "ttl", "record_type", "data"]),
                  let dname = obj["dname"] as? String, let ttl = obj["ttl"] as? Int, ttl >= 0,
                  obj["record_type"] as? String == "A", let data = obj["data"] as? [String], data.count == 1,
                  data[0].split(separator: ".").count == 4, data[0].split(separator: ".").allSatisfy({ UInt8($0) != nil })
            else { return violation("\(name) is not one A record object: \(value)", r) }
            guard absolute(dname).hasSuffix("." + zoneName + ".") || absolute(dname) == zoneName + "." else {
                return violation("\(name) names \(dname), outside \(zoneName)", r)
            }
            let entry = Entry(kind: "record", recordType: "A", dname: dname, ttl: ttl, data: data)
            if name == "edit" {
                guard let line = obj["line_index"] as? Int else { return violation("edit without an integer line_index", r) }
                edits.append((line, entry))
            } else {
                adds.append(entry)
            }
        }
        for (name, value) in params where name == "remove" {
            guard let line = Int(value) else { return violation("remove=\(value) is not a line index", r) }
            removes.append(line)
        }
        guard !(edits.isEmpty && adds.isEmpty && removes.isEmpty) else { return violation("an edit that changes nothing", r) }
        return state.withLock { s in
            if faults.concurrentEdit {
                s.faults.concurrentEdit = false
                bumpSerial(&s.entries)
            }
            let current = Int(Self.soa(s.entries)?.data[2] ?? "") ?? -1
            guard serial == current else {
                return envelope(cmd, result: 0, reason: "The given serial number (\(serial)) does not match the DNS zone’s serial number (\(current)). Refresh your view of the DNS zone, then resubmit.")
            }
            // Line indexes refer to the zone before the edit: resolve them all first.
            var starts: [Int: Int] = [:]  // line index → entry index
            var line = 0
            for (i, e) in s.entries.enumerated() { starts[line] = i; line += e.lines }
            let touched = edits.map(\.line) + removes
            guard Set(touched).count == touched.count else {
                recorder.violation("a line is edited or removed twice: \(touched)", r)
                return envelope(cmd, result: 0, reason: "Line indexes must be unique.")
            }
            for l in touched {
                guard let i = starts[l], s.entries[i].kind == "record", s.entries[i].recordType == "A" else {
                    recorder.violation("line \(l) is not an A record", r)
                    return envelope(cmd, result: 0, reason: "Line \(l) is not an A record.")
                }
            }
            if faults.ignoreEdits { return envelope(cmd, data: ["new_serial": current + 1]) }
            var next: [Entry] = []
            for (i, e) in s.entries.enumerated() {
                let start = starts.first { $0.value == i }!.key
                if removes.contains(start) { continue }
                next.append(edits.first { $0.line == start }?.entry ?? e)
            }
            next += adds
            s.entries = next
            bumpSerial(&s.entries)
            return envelope(cmd, data: ["new_serial": current + 1])
        }
    }

    private func bumpSerial(_ entries: inout [Entry]) {
        guard let i = entries.firstIndex(where: { $0.recordType == "SOA" }), let n = Int(entries[i].data[2]) else { return }
        entries[i].data[2] = String(n + 1)
    }
}
