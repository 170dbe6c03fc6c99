#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import FoundationEssentials
import BalctlProtocol

/// One claimed job as remembered on disk: written before the job starts and again with its
/// completion, removed once the control plane has taken the completion. What survives a crash
/// tells the restarted agent which jobs it lost (no completion: report `interrupted`) and which
/// completions it still owes (resend them).
public struct InFlightRecord: Codable, Sendable {
    public var job: ClaimedJob
    public var startedAt: Double
    public var completion: JobCompletion?
}

public struct InFlightStore: Sendable {
    public let directory: String

    public init(stateDir: String) { directory = stateDir + "/jobs" }

    public func prepare() throws {
        for dir in [String(directory.dropLast(5)), directory] where access(dir, F_OK) != 0 {
            if mkdir(dir, 0o700) != 0 && errno != EEXIST {
                throw ConfigError("cannot create state directory \(dir): \(String(cString: strerror(errno)))")
            }
        }
    }

    private func path(_ ref: JobRef) -> String { "\(directory)/\(ref.id)-\(ref.attempt).json" }

    public func save(_ record: InFlightRecord) {
        guard let data = try? JSONEncoder().encode(record) else { return }
        try? SafeFile.write(path(record.job.ref), Array(data), mode: 0o600)
    }

    public func remove(_ ref: JobRef) { unlink(path(ref)) }

    public func all() -> [InFlightRecord] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var out: [InFlightRecord] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard name.hasSuffix(".json"), let text = readTextFile("\(directory)/\(name)"),
                  let record = try? JSONDecoder().decode(InFlightRecord.self, from: Data(text.utf8))
            else { continue }
            out.append(record)
        }
        return out.sorted { $0.job.id < $1.job.id }
    }
}
