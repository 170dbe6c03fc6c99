import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A fresh directory under /tmp, removed when the value goes away.
final class TempDir: @unchecked Sendable {
    let path: String

    init() throws {
        var template = Array("/tmp/balctl-akt-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw POSIXError(.EIO) }
        path = String(cString: p)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    func write(_ name: String, _ text: String) throws {
        let full = file(name)
        let dir = (full as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: full))
    }

    func read(_ name: String) throws -> String {
        String(decoding: try Data(contentsOf: URL(fileURLWithPath: file(name))), as: UTF8.self)
    }
}

/// st_mode & 0o777 and the inode of a path, via stat(2).
func statOf(_ path: String) -> (mode: UInt32, inode: UInt64)? {
    var st = stat()
    guard stat(path, &st) == 0 else { return nil }
    return (UInt32(st.st_mode) & 0o777, UInt64(st.st_ino))
}

func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

func monotonic() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Poll until `condition` holds or `timeout` seconds pass; returns whether it held.
func eventually(timeout: Double = 5, _ condition: () async -> Bool) async -> Bool {
    let deadline = monotonic() + timeout
    while monotonic() < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return await condition()
}

/// Whether `pid` names a live process (a zombie is dead: it only waits to be reaped).
func isAlive(_ pid: pid_t) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return false }
    return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
}

/// The pid a test program wrote to `path` (waiting for it to appear).
func pidWritten(to path: String) async -> pid_t? {
    _ = await eventually { ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").hasSuffix("\n") }
    return (try? String(contentsOfFile: path, encoding: .utf8)).flatMap {
        pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
