import BalctlProtocol

/// The fields of a heartbeat the ingest acts on. The rest of the `HostReport` is kept as sent
/// and decoded in full only when someone reads it.
struct HeartbeatEnvelope: Sendable, Equatable {
    var hostname: String
    var agentVersion: String
    var protocolVersion: Int
    var jobsInFlight: [JobRef]
    /// The public IPv4 the agent declares or probed, as sent (checked by the failover readiness).
    var publicIPv4: String? = nil
    /// `stacks.haproxy.active`; nil when the report has no haproxy stack (or no such field).
    var haproxyActive: Bool? = nil
    /// A new agent version on trial (`updateTrial: true`): recorded, but handed no jobs.
    var updateTrial = false
    /// The report carries `updateEvents` (decoded from the stored report when present: rare).
    var hasUpdateEvents = false

    /// Reads the envelope out of a heartbeat body in one pass that also checks the whole body is
    /// well-formed JSON (RFC 8259). Errors are 400s with the reason ("malformed JSON at byte 17:
    /// …", "missing key 'hostname'", "wrong type at jobsInFlight[0].id: expected an integer").
    ///
    /// Why not JSONDecoder: on this route it was the largest cost after TLS (9 % of the control
    /// plane's CPU under heartbeat load, most of it the Codable machinery for four fields). The
    /// body arrives as a `String` already checked to be UTF-8.
    static func read(_ body: String) throws -> HeartbeatEnvelope {
        var body = body
        return try body.withUTF8 { try scan($0).envelope.get() }
    }

    /// The scan itself, with the work it took: `steps` counts the turns of the scanner's loops.
    /// Every loop turn consumes input (or ends its loop), so a scan takes at most
    /// `stepBudget(bytes.count)` turns; the scanner refuses to go further (a 400 rather than a
    /// spinning thread, should a loop ever stop advancing). Tests hold it to that bound.
    static func scan(_ bytes: UnsafeBufferPointer<UInt8>) -> (envelope: Result<HeartbeatEnvelope, ControlPlaneError>, steps: Int) {
        var scanner = EnvelopeScanner(bytes: bytes)
        do {
            let envelope = try scanner.envelope()
            try scanner.skipWhitespace()
            if scanner.i < bytes.count { throw scanner.malformed("unexpected text after the JSON value") }
            return (.success(envelope), scanner.steps)
        } catch let e as ControlPlaneError {
            return (.failure(e), scanner.steps)
        } catch {
            return (.failure(.badRequest("\(error)")), scanner.steps)
        }
    }

    /// The most loop turns a scan of `length` bytes may take. Each byte is consumed by one turn;
    /// the other turns (a whitespace skip that finds none, an object's or array's next member)
    /// come at most a few per consumed byte.
    static func stepBudget(_ length: Int) -> Int { 16 * length + 64 }

    /// The refusal when the budget runs out: a bug in the scanner, never the client's fault alone.
    static let budgetExceeded = "the scan exceeded its work bound"
}

/// A cursor over the body's bytes. Everything it does not need is validated and skipped.
///
/// Termination: every loop below calls `step()` on each turn, and each turn either consumes at
/// least one byte (`i` grows) or leaves the loop; recursion is bounded by `maxDepth`. `step()`
/// enforces `HeartbeatEnvelope.stepBudget` as a backstop.
private struct EnvelopeScanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var i = 0
    /// Loop turns so far, and the most allowed.
    var steps = 0
    let budget: Int
    /// Nesting deeper than this is refused (recursion bound; real reports nest 4 levels).
    static let maxDepth = 64

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
        budget = HeartbeatEnvelope.stepBudget(bytes.count)
    }

    /// A member name: its raw bytes between the quotes and, when it holds escapes, its text
    /// (resolved once, however many names it is compared with).
    struct Key { var range: Range<Int>; var unescaped: String? }

    /// One loop turn.
    @inline(__always)
    mutating func step() throws {
        steps &+= 1
        if steps > budget { throw malformed(HeartbeatEnvelope.budgetExceeded) }
    }

    func malformed(_ what: String) -> ControlPlaneError {
        .badRequest("malformed JSON at byte \(i): \(what)")
    }

    // MARK: the envelope

    mutating func envelope() throws -> HeartbeatEnvelope {
        var hostname: String?, agentVersion: String?, protocolVersion: Int?, jobs: [JobRef]?
        var publicIPv4: String?, haproxyActive: Bool?, updateTrial = false, hasUpdateEvents = false
        // red team finding F6: with a key given twice the scanner kept the last value and
        // JSONDecoder (which reads the stored report) the first, so the two disagreed on who sent
        // it. A duplicate top-level key is refused. Names of up to 15 bytes (all real ones) are
        // stored inline by String, so this costs one small set per heartbeat.
        var seen = Set<String>()
        try object(depth: 1) { s, key in
            let name = key.unescaped ?? String(decoding: UnsafeBufferPointer(rebasing: s.bytes[key.range]), as: UTF8.self)
            guard seen.insert(name).inserted else { throw ControlPlaneError.badRequest("duplicate key '\(name)'") }
            if s.key(key, is: "hostname") { hostname = try s.string(at: "hostname") }
            else if s.key(key, is: "agentVersion") { agentVersion = try s.string(at: "agentVersion") }
            else if s.key(key, is: "protocolVersion") { protocolVersion = try s.integer(at: "protocolVersion") }
            else if s.key(key, is: "jobsInFlight") { jobs = try s.jobRefs() }
            else if s.key(key, is: "publicIPv4") { publicIPv4 = try s.optionalString(at: "publicIPv4") }
            else if s.key(key, is: "stacks") { haproxyActive = try s.haproxyActive() }
            else if s.key(key, is: "updateTrial") {
                if try s.peek() == UInt8(ascii: "t") { updateTrial = true }
                try s.skipValue(depth: 2)
            }
            else if s.key(key, is: "updateEvents") {
                hasUpdateEvents = try s.peek() == UInt8(ascii: "[")
                try s.skipValue(depth: 2)
            }
            else { try s.skipValue(depth: 2) }
        }
        guard let hostname else { throw ControlPlaneError.badRequest("missing key 'hostname'") }
        guard let agentVersion else { throw ControlPlaneError.badRequest("missing key 'agentVersion'") }
        guard let protocolVersion else { throw ControlPlaneError.badRequest("missing key 'protocolVersion'") }
        guard let jobs else { throw ControlPlaneError.badRequest("missing key 'jobsInFlight'") }
        return HeartbeatEnvelope(hostname: hostname, agentVersion: agentVersion,
                                 protocolVersion: protocolVersion, jobsInFlight: jobs,
                                 publicIPv4: publicIPv4, haproxyActive: haproxyActive,
                                 updateTrial: updateTrial, hasUpdateEvents: hasUpdateEvents)
    }

    /// `stacks`: an object of stack name → value; only `haproxy.active` is read (failover).
    mutating func haproxyActive() throws -> Bool? {
        guard try peek() == UInt8(ascii: "{") else { throw typeMismatch("stacks", "an object") }
        // Red team RT-12-4: a duplicate `haproxy` or `active` would let the evaluator (last value)
        // and the stored report's readers (first value) disagree on whether haproxy runs.
        var active: Bool?, sawHAProxy = false
        try object(depth: 2) { s, key in
            guard s.key(key, is: "haproxy") else { return try s.skipValue(depth: 3) }
            guard !sawHAProxy else { throw ControlPlaneError.badRequest("duplicate key 'haproxy' in stacks") }
            sawHAProxy = true
            guard try s.peek() == UInt8(ascii: "{") else { return try s.skipValue(depth: 3) }
            var sawActive = false
            try s.object(depth: 3) { s, key in
                if s.key(key, is: "active") {
                    guard !sawActive else { throw ControlPlaneError.badRequest("duplicate key 'active' in stacks.haproxy") }
                    sawActive = true
                    if let c = try s.peek(), c == UInt8(ascii: "t") || c == UInt8(ascii: "f") { active = c == UInt8(ascii: "t") }
                }
                try s.skipValue(depth: 4)
            }
        }
        return active
    }

    mutating func jobRefs() throws -> [JobRef] {
        var refs: [JobRef] = []
        try array(depth: 2, expected: "jobsInFlight") { s, n in
            let path = "jobsInFlight[\(n)]"
            var id: Int?, attempt: Int?
            guard try s.peek() == UInt8(ascii: "{") else { throw ControlPlaneError.badRequest("wrong type at \(path): expected an object") }
            try s.object(depth: 3) { s, key in
                // red team finding F6: the same within a job reference (no set: the two fields
                // already tell whether they were seen).
                if s.key(key, is: "id") {
                    guard id == nil else { throw ControlPlaneError.badRequest("duplicate key 'id' in \(path)") }
                    id = try s.integer(at: path + ".id")
                } else if s.key(key, is: "attempt") {
                    guard attempt == nil else { throw ControlPlaneError.badRequest("duplicate key 'attempt' in \(path)") }
                    attempt = try s.integer(at: path + ".attempt")
                }
                else { try s.skipValue(depth: 4) }
            }
            guard let id else { throw ControlPlaneError.badRequest("missing key 'id' in \(path)") }
            guard let attempt else { throw ControlPlaneError.badRequest("missing key 'attempt' in \(path)") }
            refs.append(JobRef(id: Int64(id), attempt: attempt))
        }
        return refs
    }

    // MARK: typed values

    mutating func string(at path: String) throws -> String {
        guard try peek() == UInt8(ascii: "\"") else { throw typeMismatch(path, "a string") }
        let (range, escaped) = try scanString()
        return try escaped ? unescape(range) : String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    mutating func optionalString(at path: String) throws -> String? {
        if try peek() == UInt8(ascii: "n") { try literal("null"); return nil }
        return try string(at: path)
    }

    mutating func integer(at path: String) throws -> Int {
        guard let c = try peek(), c == UInt8(ascii: "-") || isDigit(c) else { throw typeMismatch(path, "an integer") }
        let range = try scanNumber()
        var value = 0
        let negative = bytes[range.lowerBound] == UInt8(ascii: "-")
        for k in (negative ? range.lowerBound + 1 : range.lowerBound)..<range.upperBound {
            let c = bytes[k]
            guard isDigit(c) else { throw typeMismatch(path, "an integer") }  // fraction or exponent
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = times10.addingReportingOverflow(Int(c - UInt8(ascii: "0")))
            guard !o1, !o2 else { throw ControlPlaneError.badRequest("number at \(path) does not fit in 64 bits") }
            value = next
        }
        return negative ? -value : value
    }

    func typeMismatch(_ path: String, _ expected: String) -> ControlPlaneError {
        .badRequest("wrong type at \(path): expected \(expected)")
    }

    func key(_ key: Key, is name: StaticString) -> Bool {
        if let text = key.unescaped { return text == name.description }
        guard key.range.count == name.utf8CodeUnitCount else { return false }
        return name.withUTF8Buffer { lit in
            lit.elementsEqual(UnsafeBufferPointer(rebasing: bytes[key.range]))
        }
    }

    // MARK: structure

    mutating func peek() throws -> UInt8? {
        try skipWhitespace()
        return i < bytes.count ? bytes[i] : nil
    }

    /// Each turn consumes a whitespace byte or returns.
    mutating func skipWhitespace() throws {
        while i < bytes.count {
            try step()
            switch bytes[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return
            }
        }
    }

    mutating func expect(_ c: UInt8, _ what: String) throws {
        guard try peek() == c else { throw malformed(i < bytes.count ? "expected \(what)" : "unexpected end, expected \(what)") }
        i += 1
    }

    /// `{ "key": value, … }`; `member` must consume the value.
    mutating func object(depth: Int, _ member: (inout EnvelopeScanner, Key) throws -> Void) throws {
        guard depth <= Self.maxDepth else { throw malformed("nested deeper than \(Self.maxDepth) levels") }
        try expect(UInt8(ascii: "{"), "an object")
        if try peek() == UInt8(ascii: "}") { i += 1; return }
        // Each turn consumes at least a member name's two quotes, or throws.
        while true {
            try step()
            guard try peek() == UInt8(ascii: "\"") else { throw malformed("expected a member name in quotes") }
            let (range, escaped) = try scanString()
            let key = try Key(range: range, unescaped: escaped ? unescape(range) : nil)
            try expect(UInt8(ascii: ":"), "':' after a member name")
            try member(&self, key)
            switch try peek() {
            case UInt8(ascii: ","):
                i += 1
                if try peek() == UInt8(ascii: "}") { throw malformed("trailing comma in an object") }
            case UInt8(ascii: "}"): i += 1; return
            default: throw malformed("expected ',' or '}' in an object")
            }
        }
    }

    /// `[ value, … ]`; `element` gets the element's index and must consume it.
    mutating func array(depth: Int, expected: String, _ element: (inout EnvelopeScanner, Int) throws -> Void) throws {
        guard depth <= Self.maxDepth else { throw malformed("nested deeper than \(Self.maxDepth) levels") }
        guard try peek() == UInt8(ascii: "[") else { throw typeMismatch(expected, "an array") }
        i += 1
        if try peek() == UInt8(ascii: "]") { i += 1; return }
        var n = 0
        // Each turn consumes an element (every value is at least one byte), or throws.
        while true {
            try step()
            let before = i
            try element(&self, n)
            // A value that consumed nothing would turn this loop forever: refuse it.
            guard i > before else { throw malformed("expected a value") }
            n += 1
            switch try peek() {
            case UInt8(ascii: ","):
                i += 1
                if try peek() == UInt8(ascii: "]") { throw malformed("trailing comma in an array") }
            case UInt8(ascii: "]"): i += 1; return
            default: throw malformed("expected ',' or ']' in an array")
            }
        }
    }

    mutating func skipValue(depth: Int) throws {
        switch try peek() {
        case UInt8(ascii: "{"): try object(depth: depth) { s, _ in try s.skipValue(depth: depth + 1) }
        case UInt8(ascii: "["): try array(depth: depth, expected: "") { s, _ in try s.skipValue(depth: depth + 1) }
        case UInt8(ascii: "\""): _ = try scanString()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        case let c? where c == UInt8(ascii: "-") || isDigit(c):
            let number = try scanNumber()
            // 1e999 and 1e-400 are valid JSON, but whoever reads the stored report could not decode them.
            if let problem = doubleRangeProblem(number) { throw malformed("number out of range: \(problem)") }
        case nil: throw malformed("unexpected end, expected a value")
        default: throw malformed("expected a value")
        }
    }

    mutating func literal(_ word: StaticString) throws {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count,
              word.withUTF8Buffer({ $0.elementsEqual(UnsafeBufferPointer(rebasing: bytes[i..<(i + n)])) })
        else { throw malformed("expected a value") }
        i += n
    }

    // MARK: tokens

    func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    /// A number as RFC 8259 spells it: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    mutating func scanNumber() throws -> Range<Int> {
        let start = i
        func digits(_ s: inout EnvelopeScanner) throws {
            guard s.i < s.bytes.count, s.isDigit(s.bytes[s.i]) else { throw s.malformed("expected a digit") }
            while s.i < s.bytes.count, s.isDigit(s.bytes[s.i]) { try s.step(); s.i += 1 }
        }
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        if i < bytes.count, bytes[i] == UInt8(ascii: "0") {
            i += 1
            if i < bytes.count, isDigit(bytes[i]) { throw malformed("numbers do not start with 0") }
        } else {
            try digits(&self)
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") { i += 1; try digits(&self) }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            try digits(&self)
        }
        return start..<i
    }

    /// Why a number cannot be read back as a Double, or nil when it can. Only a number with an
    /// exponent or hundreds of digits can overflow or underflow one; only those are converted.
    func doubleRangeProblem(_ number: Range<Int>) -> String? {
        let digits = UnsafeBufferPointer(rebasing: bytes[number])
        let exponent = digits.firstIndex(where: { $0 | 0x20 == UInt8(ascii: "e") })
        guard number.count > 300 || exponent != nil else { return nil }
        guard let value = Double(String(decoding: digits, as: UTF8.self)), value.isFinite else { return "too large for a Double" }
        // red team finding F5: 1e-400 reads as 0 here but JSONDecoder refuses it, so the stored
        // report would be unreadable. Non-zero digits that come out as 0 underflowed; subnormals
        // (4.9e-324, 1e-310) are non-zero and pass.
        if value == 0, digits[..<(exponent ?? digits.endIndex)].contains(where: { $0 >= UInt8(ascii: "1") && $0 <= UInt8(ascii: "9") }) {
            return "too small for a Double (it would read as 0)"
        }
        return nil
    }

    /// From the opening quote past the closing one; returns the bytes between them. Escapes are
    /// checked here, surrogate pairs included, so `unescape` cannot fail. Every turn of the loop
    /// consumes 1 (a plain byte), 2 (`\n`), 6 or 12 (`\uXXXX`, a surrogate pair) bytes, returns
    /// or throws; an escape cut off by the end of the body is "unterminated".
    mutating func scanString() throws -> (Range<Int>, escaped: Bool) {
        i += 1
        let start = i
        var escaped = false
        while i < bytes.count {
            try step()
            switch bytes[i] {
            case UInt8(ascii: "\""):
                defer { i += 1 }
                return (start..<i, escaped)
            case UInt8(ascii: "\\"):
                escaped = true
                // issue 20 item 1: this was `break`, which left the switch but not the loop, so a
                // body ending right after a backslash spun here forever.
                guard i + 1 < bytes.count else { throw malformed("unterminated string") }
                switch bytes[i + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                     UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    i += 2
                case UInt8(ascii: "u"):
                    guard let unit = utf16Escape(at: i) else { throw malformed("\\u must be followed by four hex digits") }
                    i += 6
                    if (0xD800..<0xDC00).contains(unit) {
                        guard let low = utf16Escape(at: i), (0xDC00..<0xE000).contains(low) else {
                            throw malformed("unpaired surrogate in a \\u escape")
                        }
                        i += 6
                    } else if (0xDC00..<0xE000).contains(unit) {
                        throw malformed("unpaired surrogate in a \\u escape")
                    }
                default:
                    throw malformed("invalid escape in a string")
                }
            case 0..<0x20:
                throw malformed("control character in a string (escape it)")
            default:
                i += 1
            }
        }
        throw malformed("unterminated string")
    }

    /// The UTF-16 unit of a `\uXXXX` escape starting at `at`, nil when there is none.
    func utf16Escape(at k: Int) -> UInt32? {
        guard k + 6 <= bytes.count, bytes[k] == UInt8(ascii: "\\"), bytes[k + 1] == UInt8(ascii: "u") else { return nil }
        var unit: UInt32 = 0
        for c in bytes[(k + 2)..<(k + 6)] {
            guard let v = hexValue(c) else { return nil }
            unit = unit << 4 | UInt32(v)
        }
        return unit
    }

    /// The text of a string `scanString` accepted, escapes resolved and surrogate pairs joined.
    /// Each turn moves `k` forward by 1, 2, 6 or 12.
    mutating func unescape(_ range: Range<Int>) throws -> String {
        var out: [UInt8] = []
        out.reserveCapacity(range.count)
        var k = range.lowerBound
        while k < range.upperBound {
            try step()
            let c = bytes[k]
            guard c == UInt8(ascii: "\\") else { out.append(c); k += 1; continue }
            switch bytes[k + 1] {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = utf16Escape(at: k)!
                if (0xD800..<0xDC00).contains(scalar) {
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (utf16Escape(at: k + 6)! - 0xDC00)
                    k += 6
                }
                UTF8.encode(Unicode.Scalar(scalar)!) { out.append($0) }
                k += 4
            case let e: out.append(e)  // \" \\ \/
            }
            k += 2
        }
        return String(decoding: out, as: UTF8.self)
    }
}

private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: nil
    }
}
