extension HeartbeatReply {
    /// The reply to a heartbeat, read from its bytes: parsed once (JSONTree, strict RFC 8259) and
    /// the four fields of the common reply (no job, no cancel) taken from the tree directly;
    /// anything else goes through the Codable types (`JSONTree.decode`), whose errors name the
    /// field. JSONDecoder on this path was the agent's largest cost after the report (issue 18).
    public static func read(_ bytes: [UInt8]) throws -> HeartbeatReply {
        if let common = commonReply(bytes) { return common }
        let tree = try JSONTree.parse(bytes)
        if case .object(let o) = tree,
           case .number(let interval)? = o["heartbeatIntervalSec"], let intervalSec = Int(exactly: interval),
           case .number(let serverTime)? = o["serverTime"],
           case .array(let jobs)? = o["jobs"], jobs.isEmpty,
           case .array(let cancels)? = o["cancelJobs"], cancels.isEmpty {
            switch o["latestAgentVersion"] {
            case nil, .null?: return HeartbeatReply(heartbeatIntervalSec: intervalSec, serverTime: serverTime, jobs: [], cancelJobs: [], latestAgentVersion: nil)
            case .string(let v)?: return HeartbeatReply(heartbeatIntervalSec: intervalSec, serverTime: serverTime, jobs: [], cancelJobs: [], latestAgentVersion: v)
            default: break
            }
        }
        return try JSONTree.decode(HeartbeatReply.self, from: tree)
    }

    /// The reply nearly every heartbeat gets, in the exact bytes the control plane writes for it
    /// (`HeartbeatReplyBody`): `{"heartbeatIntervalSec":N,"latestAgentVersion":"V" or null,
    /// "jobs":[],"cancelJobs":[],"serverTime":T}`, read in one pass with no tree, dictionary or
    /// String per key — building the tree was a twentieth of the agent's heartbeat CPU (issue
    /// 18). Anything else — other spacing or order, an escape in the version, a number JSON does
    /// not allow or a Double cannot hold — returns nil, and the full parser decides.
    static func commonReply(_ b: [UInt8]) -> HeartbeatReply? {
        var i = 0
        func literal(_ text: StaticString) -> Bool {
            text.withUTF8Buffer { t in
                guard b.count - i >= t.count, (0..<t.count).allSatisfy({ b[i + $0] == t[$0] }) else { return false }
                i += t.count
                return true
            }
        }
        // A JSON number (RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?), as its range.
        func number() -> Range<Int>? {
            let start = i
            func digits() -> Int {
                let from = i
                while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
                return i - from
            }
            if i < b.count, b[i] == 0x2D { i += 1 }
            guard i < b.count, b[i] >= 0x30, b[i] <= 0x39 else { return nil }
            if b[i] == 0x30 { i += 1 } else { _ = digits() }
            if i < b.count, b[i] == 0x2E {
                i += 1
                guard digits() > 0 else { return nil }
            }
            if i < b.count, b[i] == 0x65 || b[i] == 0x45 {
                i += 1
                if i < b.count, b[i] == 0x2B || b[i] == 0x2D { i += 1 }
                guard digits() > 0 else { return nil }
            }
            return start..<i
        }
        guard literal(#"{"heartbeatIntervalSec":"#) else { return nil }
        // An integer: no sign, fraction or exponent, at most 9 digits (any interval fits).
        guard let intervalRange = number(), intervalRange.count <= 9,
              !b[intervalRange].contains(where: { $0 < 0x30 || $0 > 0x39 }) else { return nil }
        let interval = b[intervalRange].reduce(0) { $0 * 10 + Int($1 - 0x30) }
        guard literal(#","latestAgentVersion":"#) else { return nil }
        var version: String?
        if literal("null") {
            version = nil
        } else {
            guard literal("\"") else { return nil }
            let start = i
            // No escape and no control character: the bytes are the string (valid UTF-8 checked).
            while i < b.count, b[i] != 0x22 {
                if b[i] == 0x5C || b[i] < 0x20 { return nil }
                i += 1
            }
            guard i < b.count, let v = String(validating: b[start..<i], as: UTF8.self) else { return nil }
            i += 1
            version = v
        }
        guard literal(#","jobs":[],"cancelJobs":[],"serverTime":"#), let timeRange = number(),
              // 0 is left to the full parser, which tells a real 0 from an underflow (1e-400).
              let serverTime = Double(String(decoding: b[timeRange], as: UTF8.self)), serverTime.isFinite, serverTime != 0,
              literal("}"), i == b.count else { return nil }
        return HeartbeatReply(heartbeatIntervalSec: interval, serverTime: serverTime, jobs: [], cancelJobs: [],
                              latestAgentVersion: version)
    }
}
