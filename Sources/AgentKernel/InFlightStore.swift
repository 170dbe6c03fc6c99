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

    /// Where completions the control plane refused for good are kept (issue 20 item 14).
    public var refusedDirectory: String { directory + "/refused" }
    /// Refused records kept; the oldest go beyond this.
    public static let maxRefusedRecords = 20

    /// Keep a record whose completion the control plane refused, for an operator to read on the
    /// host; returns its path, or nil when it could not be written.
    @discardableResult
    public func keepRefused(_ record: InFlightRecord) -> String? {
        guard (try? SafeFile.makeDirectory(refusedDirectory, mode: 0o700)) != nil,
              let data = try? JSONEncoder().encode(record) else { return nil }
        let file = "\(refusedDirectory)/\(record.job.id)-\(record.job.attempt).json"
        guard (try? SafeFile.write(file, Array(data), mode: 0o600)) != nil else { return nil }
        pruneRefused()
        return file
    }

    /// The refused records kept, oldest first.
    public func refused() -> [InFlightRecord] {
        refusedFiles().compactMap { file in
            readTextFile(file).flatMap { try? JSONDecoder().decode(InFlightRecord.self, from: Data($0.utf8)) }
        }
    }

    private func refusedFiles() -> [String] {
        guard let dir = opendir(refusedDirectory) else { return [] }
        defer { closedir(dir) }
        var files: [(mtime: Int, path: String)] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard name.hasSuffix(".json") else { continue }
            let file = "\(refusedDirectory)/\(name)"
            var st = stat()
            guard lstat(file, &st) == 0 else { continue }
            files.append((st.st_mtim.tv_sec * 1_000_000_000 + st.st_mtim.tv_nsec, file))
        }
        return files.sorted { ($0.mtime, $0.path) < ($1.mtime, $1.path) }.map(\.path)
    }

    private func pruneRefused() {
        let files = refusedFiles()
        for file in files.dropLast(Self.maxRefusedRecords) { unlink(file) }
    }

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
