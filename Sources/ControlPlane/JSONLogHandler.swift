import BalctlProtocol
import Foundation
import Logging

/// `--log-format json`: one JSON object per line on standard error — `time` (RFC 3339, UTC, ms),
/// `level`, `logger`, `message`, and the metadata as fields (a request's `hb.request.id` among
/// them), for log shippers that want fields rather than text. One `write` per line, so lines from
/// several threads never interleave.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let fd: Int32

    public init(label: String, fd: Int32 = 2) {
        self.label = label
        self.fd = fd
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?,
                    source: String, file: String, function: String, line: UInt) {
        var fields = self.metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { $1 } }
        if let explicit { fields.merge(explicit) { $1 } }
        let line = Self.line(time: Date(), level: level, label: label, message: message.description, metadata: fields)
        let bytes = Array(line.utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// The line, newline included (`time`, `level`, `logger`, `message` first, then metadata
    /// sorted by key; a metadata key that repeats one of those four is prefixed `meta.`).
    static func line(time: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) -> String {
        var out = "{\"time\":\"\(timestamp(time))\",\"level\":\"\(level.rawValue)\",\"logger\":" + quoted(label) + ",\"message\":" + quoted(message)
        for key in metadata.keys.sorted() {
            let name = ["time", "level", "logger", "message"].contains(key) ? "meta." + key : key
            out += "," + quoted(name) + ":" + value(metadata[key]!)
        }
        return out + "}\n"
    }

    static func value(_ v: Logger.Metadata.Value) -> String {
        switch v {
        case .string(let s): return quoted(s)
        case .stringConvertible(let c): return quoted(c.description)
        case .array(let a): return "[" + a.map(value).joined(separator: ",") + "]"
        case .dictionary(let d): return "{" + d.keys.sorted().map { quoted($0) + ":" + value(d[$0]!) }.joined(separator: ",") + "}"
        }
    }

    static func quoted(_ s: String) -> String { JSONText.quoted(s) }

    static func timestamp(_ d: Date) -> String { JSONText.timestamp(unixTime: d.timeIntervalSince1970) }
}
