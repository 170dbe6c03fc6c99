/// Compact JSON written straight into bytes, for the heartbeat body the agent sends every second
/// (JSONEncoder's Codable machinery was 7 % of the agent's heartbeat CPU, issue 18). What it
/// writes decodes with the Codable types to the same value as what JSONEncoder writes (tests
/// hold it to that); the bytes themselves differ (member order of dictionaries, `/` not escaped).
///
/// Commas are placed by one flag: after a value (or a container's end) the next key or element
/// needs one; after `{`, `[` or a key it does not.
public struct JSONWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    private var needsComma = false

    public init(capacity: Int = 1024) { bytes.reserveCapacity(capacity) }

    private mutating func comma() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        needsComma = false
    }

    public mutating func beginObject() { comma(); bytes.append(UInt8(ascii: "{")) }
    public mutating func endObject() { bytes.append(UInt8(ascii: "}")); needsComma = true }
    public mutating func beginArray() { comma(); bytes.append(UInt8(ascii: "[")) }
    public mutating func endArray() { bytes.append(UInt8(ascii: "]")); needsComma = true }

    /// A member name known at compile time: plain ASCII that needs no escape (the type's own
    /// coding keys).
    public mutating func key(_ name: StaticString) {
        comma()
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    /// Any member name (a dictionary's key), escaped.
    public mutating func key(_ name: String) {
        comma()
        quote(name)
        bytes.append(UInt8(ascii: ":"))
    }

    public mutating func string(_ s: String) { comma(); quote(s); needsComma = true }
    public mutating func bool(_ b: Bool) { comma(); append(b ? "true" : "false"); needsComma = true }
    public mutating func null() { comma(); append("null"); needsComma = true }

    public mutating func integer<T: FixedWidthInteger>(_ v: T) {
        comma()
        digits(v)
        needsComma = true
    }

    /// A number. Integral values below 2^53 in magnitude are written without a fraction (as
    /// JSONValue's encoder does, so ids and counts stay readable); others in Swift's shortest
    /// form that reads back to the same Double (`0.1`, `1e-07`, `1.7976931348623157e+308`), which
    /// is valid JSON. NaN and ±infinity have no JSON form: written as `null` (JSONEncoder would
    /// throw and the whole heartbeat be lost; `finite` below keeps a required field decodable).
    public mutating func number(_ d: Double) {
        comma()
        needsComma = true
        guard d.isFinite else { append("null"); return }
        if d.rounded() == d, abs(d) < 9.0e15 { digits(Int64(d)); return }
        var text = d.description
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    /// For a Double the decoder requires (not optional): NaN and ±infinity written as 0, so the
    /// report still decodes. Our probes only produce finite values; this is the backstop.
    public mutating func finite(_ d: Double) { number(d.isFinite ? d : 0) }

    public mutating func value(_ v: JSONValue) {
        switch v {
        case .null: null()
        case .bool(let b): bool(b)
        case .number(let n): number(n)
        case .string(let s): string(s)
        case .array(let a):
            beginArray()
            for e in a { value(e) }
            endArray()
        case .object(let o):
            beginObject()
            for (k, e) in o { key(k); value(e) }
            endObject()
        }
    }

    private mutating func append(_ s: StaticString) { s.withUTF8Buffer { bytes.append(contentsOf: $0) } }

    private mutating func digits<T: FixedWidthInteger>(_ v: T) {
        // Into a stack buffer from the right: no String per number.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 40) { buf in
            var i = buf.count
            var m = v.magnitude
            repeat {
                i -= 1
                buf[i] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: m % 10)
                m /= 10
            } while m != 0
            if v < 0 { i -= 1; buf[i] = UInt8(ascii: "-") }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buf[i...]))
        }
    }

    /// A string literal: `"` and `\` escaped, control characters as `\n`, `\r`, `\t` or `\u00XX`;
    /// everything else (all of Unicode) as its UTF-8 bytes, which a Swift String always holds
    /// valid. Runs without an escape are copied in one go.
    private mutating func quote(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { u in
            var start = 0
            for (i, c) in u.enumerated() where c < 0x20 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: u[start..<i]))
                start = i + 1
                switch c {
                case UInt8(ascii: "\""): append("\\\"")
                case UInt8(ascii: "\\"): append("\\\\")
                case 0x0A: append("\\n")
                case 0x0D: append("\\r")
                case 0x09: append("\\t")
                default:
                    append("\\u00")
                    for nibble in [c >> 4, c & 0xF] { bytes.append(nibble < 10 ? 0x30 + nibble : 0x57 + nibble) }
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: u[start...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

// MARK: the heartbeat body

extension HostReport {
    /// The report as JSON, member for member what its Codable conformance writes (nil optionals
    /// left out), without the Codable machinery.
    public func jsonBytes() -> [UInt8] {
        var w = JSONWriter(capacity: 1024)
        w.beginObject()
        w.key("hostname"); w.string(hostname)
        w.key("agentVersion"); w.string(agentVersion)
        w.key("protocolVersion"); w.integer(protocolVersion)
        w.key("os"); os.write(to: &w)
        w.key("uptimeSec"); w.finite(uptimeSec)
        w.key("load"); w.beginArray(); for l in load { w.finite(l) }; w.endArray()
        if let cpuPercent { w.key("cpuPercent"); w.number(cpuPercent) }
        w.key("cpuCount"); w.integer(cpuCount)
        w.key("memory")
        w.beginObject()
        w.key("totalBytes"); w.integer(memory.totalBytes)
        w.key("availableBytes"); w.integer(memory.availableBytes)
        w.endObject()
        w.key("disks")
        w.beginArray()
        for d in disks {
            w.beginObject()
            w.key("mount"); w.string(d.mount)
            w.key("fsType"); w.string(d.fsType)
            w.key("totalBytes"); w.integer(d.totalBytes)
            w.key("availableBytes"); w.integer(d.availableBytes)
            w.endObject()
        }
        w.endArray()
        if let publicIPv4 { w.key("publicIPv4"); w.string(publicIPv4) }
        if let publicIPSource { w.key("publicIPSource"); w.string(publicIPSource) }
        w.key("stacks"); w.value(.object(stacks))
        w.key("commands"); w.beginArray(); for c in commands { w.string(c) }; w.endArray()
        w.key("jobsInFlight")
        w.beginArray()
        for j in jobsInFlight { w.beginObject(); w.key("id"); w.integer(j.id); w.key("attempt"); w.integer(j.attempt); w.endObject() }
        w.endArray()
        if let updateEvents {
            w.key("updateEvents")
            w.beginArray()
            for e in updateEvents {
                w.beginObject()
                w.key("id"); w.string(e.id)
                w.key("kind"); w.string(e.kind.rawValue)
                w.key("from"); w.string(e.from)
                if let to = e.to { w.key("to"); w.string(to) }
                w.key("at"); w.finite(e.at)
                w.key("message"); w.string(e.message)
                if let jobId = e.jobId { w.key("jobId"); w.integer(jobId) }
                w.endObject()
            }
            w.endArray()
        }
        if let updateTrial { w.key("updateTrial"); w.bool(updateTrial) }
        if let hiddenStacks {
            w.key("hiddenStacks")
            w.beginObject()
            for (name, reason) in hiddenStacks.sorted(by: { $0.key < $1.key }) { w.key(name); w.string(reason) }
            w.endObject()
        }
        w.endObject()
        return w.bytes
    }
}

extension OSInfo {
    func write(to w: inout JSONWriter) {
        w.beginObject()
        w.key("family"); w.string(family)
        w.key("id"); w.string(id)
        w.key("versionID"); w.string(versionID)
        w.key("prettyName"); w.string(prettyName)
        w.key("kernel"); w.string(kernel)
        w.endObject()
    }
}
