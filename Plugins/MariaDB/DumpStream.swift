#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import CArchive

/// The zstd stream of a logical backup, in the agent's own process through the libarchive it
/// links anyway (raw format, zstd filter): `mariadb-dump` writes into a pipe this compresses
/// into the backup file, and a restore decompresses the file into a socket the `mariadb`
/// client reads as its stdin. No shell, no temporary uncompressed copy, no `zstd` program.
enum DumpStream {
    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    static func archiveError(_ a: OpaquePointer, _ what: String) -> Failure {
        Failure("\(what): \(archive_error_string(a).map { String(cString: $0) } ?? "libarchive error")")
    }

    /// Compress everything read from `input` into `output` (a zstd frame). Closes `input` (so a
    /// writer still writing sees EPIPE), leaves `output` open. Returns the bytes read.
    static func compress(from input: Int32, to output: Int32, level: Int) throws -> Int {
        defer { close(input) }
        guard let a = archive_write_new() else { throw Failure("libarchive could not start") }
        defer { archive_write_free(a) }
        guard archive_write_add_filter_zstd(a) == ARCHIVE_OK,
              archive_write_set_filter_option(a, "zstd", "compression-level", String(level)) == ARCHIVE_OK,
              archive_write_set_format_raw(a) == ARCHIVE_OK,
              archive_write_set_bytes_in_last_block(a, 1) == ARCHIVE_OK,
              archive_write_open_fd(a, output) == ARCHIVE_OK else { throw archiveError(a, "zstd writer") }
        guard let entry = archive_entry_new() else { throw Failure("libarchive could not start") }
        defer { archive_entry_free(entry) }
        archive_entry_set_filetype(entry, BALCTL_AE_IFREG)
        archive_entry_set_pathname(entry, "dump.sql")
        guard archive_write_header(a, entry) == ARCHIVE_OK else { throw archiveError(a, "zstd writer") }
        var total = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 17)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw Failure("reading the dump: \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            let written = buffer.withUnsafeBytes { archive_write_data(a, $0.baseAddress, n) }
            guard written == n else { throw archiveError(a, "compressing the dump") }
            total += n
        }
        guard archive_write_close(a) == ARCHIVE_OK else { throw archiveError(a, "finishing the zstd stream") }
        return total
    }

    /// Decompress the zstd file `input` into `output` (a stream socket: sent with MSG_NOSIGNAL,
    /// so a client that died mid-restore is an error here, not a SIGPIPE). Closes both.
    static func decompress(from input: Int32, to output: Int32) throws -> Int {
        defer { close(input); close(output) }
        guard let a = archive_read_new() else { throw Failure("libarchive could not start") }
        defer { archive_read_free(a) }
        guard archive_read_support_filter_zstd(a) == ARCHIVE_OK, archive_read_support_format_raw(a) == ARCHIVE_OK,
              archive_read_open_fd(a, input, 1 << 17) == ARCHIVE_OK else { throw archiveError(a, "the backup file is not a zstd stream") }
        var entry: OpaquePointer? = nil
        guard archive_read_next_header(a, &entry) == ARCHIVE_OK else { throw archiveError(a, "the backup file is not a zstd stream") }
        // The raw reader takes any bytes as "data": insist the file really was zstd.
        guard archive_filter_count(a) > 1, archive_filter_code(a, 0) == ARCHIVE_FILTER_ZSTD else {
            throw Failure("the backup file is not zstd-compressed")
        }
        var total = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 17)
        while true {
            let n = buffer.withUnsafeMutableBytes { archive_read_data(a, $0.baseAddress, $0.count) }
            if n < 0 { throw archiveError(a, "decompressing the backup") }
            if n == 0 { break }
            var sent = 0
            while sent < n {
                let m = buffer.withUnsafeBytes { send(output, $0.baseAddress! + sent, n - sent, Int32(MSG_NOSIGNAL)) }
                if m < 0 && errno == EINTR { continue }
                guard m > 0 else { throw Failure("the mariadb client stopped reading the restore: \(String(cString: strerror(errno)))") }
                sent += m
            }
            total += n
        }
        return total
    }

    /// A connected pair of stream sockets, both close-on-exec (the runner dup2s one onto stdin).
    static func socketPair() throws -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw Failure("socketpair: \(String(cString: strerror(errno)))")
        }
        return (fds[0], fds[1])
    }
}
