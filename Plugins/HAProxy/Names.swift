import AgentKernel
import BalctlProtocol

/// Backend and server names as haproxy itself allows them: letters, digits, '-', '_', '.', ':'.
/// Anything else is refused before a job runs. This is what keeps a name from carrying a second
/// runtime command: haproxy splits commands at ';' and newlines, and words at spaces.
public enum HAProxyName {
    public static let maxLength = 128

    public static func isValid(_ name: String) -> Bool { problem(name) == nil }

    static func problem(_ name: String) -> String? {
        if name.isEmpty { return "is empty" }
        if name.utf8.count > maxLength { return "is longer than \(maxLength) bytes" }
        for c in name.unicodeScalars {
            let ok = (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9")
                || c == "-" || c == "_" || c == "." || c == ":"
            if !ok { return "contains \(describe(c))" }
        }
        return nil
    }

    static func describe(_ c: Unicode.Scalar) -> String {
        switch c {
        case " ": return "a space"
        case "\n": return "a newline"
        case "\r": return "a carriage return"
        case "\t": return "a tab"
        case "\0": return "a NUL"
        default:
            return c.isASCII && c.value >= 0x21 && c.value < 0x7F ? "'\(Character(c))'" : "U+\(String(c.value, radix: 16, uppercase: true))"
        }
    }

    /// Throws a ParameterError naming the field and what is wrong.
    public static func check(_ name: String, field: String) throws(ParameterError) {
        if let p = problem(name) {
            throw ParameterError("\(field): \(name.debugDescription) \(p); haproxy names use only letters, digits, '-', '_', '.' and ':'")
        }
    }
}

/// The parameters of haproxy.server_drain / server_ready / server_maint.
public struct ServerParameters: CommandParameters {
    public var backend: String
    public var server: String

    public init(backend: String, server: String) { self.backend = backend; self.server = server }

    enum CodingKeys: String, CodingKey { case backend, server }
    public init(from decoder: any Decoder) throws {
        try refuseUnknownKeys(decoder, allowed: ["backend", "server"])
        let c = try decoder.container(keyedBy: CodingKeys.self)
        backend = try c.decode(String.self, forKey: .backend)
        server = try c.decode(String.self, forKey: .server)
    }

    public static let help = "backend: string (haproxy name: letters, digits, - _ . :); server: string (same)"

    public func validate() throws {
        try HAProxyName.check(backend, field: "backend")
        try HAProxyName.check(server, field: "server")
    }
}

/// Refuse keys a command does not take: a typo (`"forse": true`) must not be silently ignored
/// when it decides whether a reinstall or a reload happens.
func refuseUnknownKeys(_ decoder: any Decoder, allowed: [String]) throws {
    let c = try decoder.container(keyedBy: AnyParameterKey.self)
    for key in c.allKeys where !allowed.contains(key.stringValue) {
        throw ParameterError("unexpected parameter '\(key.stringValue)' (this command takes: \(allowed.joined(separator: ", ")))")
    }
}

struct AnyParameterKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// `{"force": bool}`: the parameters of commands that skip work already done unless forced
/// (`haproxy.provision` reinstalls, `haproxy.reload` reloads anyway). Unknown keys are refused.
public struct ForceParameters: CommandParameters {
    public var force: Bool?
    public init(force: Bool? = nil) { self.force = force }

    enum CodingKeys: String, CodingKey { case force }
    public init(from decoder: any Decoder) throws {
        try refuseUnknownKeys(decoder, allowed: ["force"])
        force = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(Bool.self, forKey: .force)
    }
}
