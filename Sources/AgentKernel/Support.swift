#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
import BalctlProtocol

/// Wall-clock Unix time in seconds.
public func unixNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Monotonic seconds, for intervals and deadlines.
public func monotonicNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Run `body` on a new OS thread: for the few blocking loops (reading a child's output) that
/// must never occupy one of Swift's cooperative threads.
public func runOnNewThread(_ body: @escaping @Sendable () -> Void) {
    final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    var tid = pthread_t()
    let rc = pthread_create(&tid, nil, { arg in
        let box = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
        box.body()
        return nil
    }, box)
    if rc != 0 {
        // No thread: run inline rather than lose the work.
        Unmanaged<Box>.fromOpaque(box).takeRetainedValue().body()
    } else {
        pthread_detach(tid)
    }
}

/// Keeps the last `limit` bytes written to it: bounded job output.
public final class OutputTail: Sendable {
    private struct State { var bytes: [UInt8] = []; var dropped = 0 }
    private let state = Mutex(State())
    public let limit: Int

    public init(limit: Int) { self.limit = limit }

    public func append(_ text: String) { append(Array(text.utf8)) }

    public func append(_ chunk: [UInt8]) {
        state.withLock { s in
            s.bytes.append(contentsOf: chunk)
            if s.bytes.count > limit * 2 {
                let cut = s.bytes.count - limit
                s.dropped += cut
                s.bytes.removeFirst(cut)
            }
        }
    }

    /// The tail as text, marked when earlier output was dropped.
    public var text: String {
        state.withLock { s in
            var bytes = s.bytes
            var dropped = s.dropped
            if bytes.count > limit { dropped += bytes.count - limit; bytes.removeFirst(bytes.count - limit) }
            // Do not start in the middle of a UTF-8 sequence.
            while let f = bytes.first, f & 0xC0 == 0x80 { bytes.removeFirst(); dropped += 1 }
            let body = String(decoding: bytes, as: UTF8.self)
            return dropped > 0 ? "[… \(dropped) earlier bytes dropped]\n" + body : body
        }
    }
}

/// Minimal leveled logging to stderr. Lines carry the `<N>` syslog prefix journald understands,
/// so `journalctl -p warning` works without a logging library in the agent.
public struct AgentLog: Sendable {
    public enum Level: Int, Sendable, Comparable {
        case error = 3, warning = 4, notice = 5, info = 6, debug = 7
        public static func < (a: Level, b: Level) -> Bool { a.rawValue > b.rawValue }
    }
    public var minimum: Level
    /// One JSON object per line (`BALCTL_LOG_FORMAT=json`) instead of journald's `<N>` priority
    /// prefixes (the default: journald turns them into priorities).
    public var json: Bool
    public init(minimum: Level = .info, json: Bool = false) { self.minimum = minimum; self.json = json }

    public func log(_ level: Level, _ message: @autoclosure () -> String) {
        guard level >= minimum else { return }
        let text = json ? Self.jsonLine(level, message(), at: unixNow()) : "<\(level.rawValue)>\(message())\n"
        let line = Array(text.utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    /// `{"time":"2026-11-28T04:12:00.123Z","level":"warning","message":"…"}` and a newline.
    static func jsonLine(_ level: Level, _ message: String, at time: Double) -> String {
        let names: [Level: String] = [.error: "error", .warning: "warning", .notice: "notice", .info: "info", .debug: "debug"]
        return "{\"time\":\"\(JSONText.timestamp(unixTime: time))\",\"level\":\"\(names[level] ?? "info")\",\"message\":\(JSONText.quoted(message))}\n"
    }
    public func error(_ m: @autoclosure () -> String) { log(.error, m()) }
    public func warning(_ m: @autoclosure () -> String) { log(.warning, m()) }
    public func info(_ m: @autoclosure () -> String) { log(.info, m()) }
    public func debug(_ m: @autoclosure () -> String) { log(.debug, m()) }
}

/// The process environment as a dictionary (without Foundation's ProcessInfo). ProcessRunner
/// replaces a child's environment entirely when given one, so adding a variable starts here.
public func currentEnvironment() -> [String: String] {
    var out: [String: String] = [:]
    var p = environ
    while let entry = p.pointee {
        let s = String(cString: entry)
        if let eq = s.firstIndex(of: "=") { out[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
        p += 1
    }
    return out
}

/// A value behind a lock, shareable by reference (a `Mutex` itself cannot be copied into a closure).
public final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    public init(_ value: Value) { mutex = Mutex(value) }
    public func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
    public var value: Value { mutex.withLock { $0 } }
}
