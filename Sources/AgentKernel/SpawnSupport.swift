#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The descriptor hygiene every spawn needs (issue 20 item 15). Swift's Glibc module does not
/// import the GNU declarations (`pipe2`, `posix_spawn_file_actions_addclosefrom_np`), so they are
/// looked up in the C library at run time; where one is missing the portable fallback is used.
public enum SpawnSupport {
    private typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32
    private typealias AddCloseFrom =
        @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32

    private static let pipe2Function: Pipe2? = cSymbol("pipe2")
    // glibc 2.34+ (Debian 12 has 2.36, RHEL 9 2.34).
    private static let addCloseFromFunction: AddCloseFrom? =
        cSymbol("posix_spawn_file_actions_addclosefrom_np")

    private static func cSymbol<T>(_ name: String) -> T? {
        guard let handle = dlopen(nil, RTLD_NOW), let p = dlsym(handle, name) else { return nil }
        return unsafeBitCast(p, to: T.self)
    }

    /// A pipe whose two ends are close-on-exec from the moment they exist: a `pipe()` followed by
    /// `fcntl(FD_CLOEXEC)` lets a spawn on another thread inherit them in between.
    public static func closeOnExecPipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        if let pipe2 = pipe2Function {
            guard fds.withUnsafeMutableBufferPointer({ pipe2($0.baseAddress, O_CLOEXEC) }) == 0 else {
                throw ProcessError(message: "pipe2: \(String(cString: strerror(errno)))")
            }
        } else {
            guard pipe(&fds) == 0 else { throw ProcessError(message: "pipe: \(String(cString: strerror(errno)))") }
            _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        }
        return (fds[0], fds[1])
    }

    /// Close every descriptor above 2 in the child (after the dup2s onto 0–2): the agent's TLS
    /// sockets, libcurl's socketpairs and any descriptor a library opened without O_CLOEXEC.
    public static func closeAllAbove2(_ actions: inout posix_spawn_file_actions_t) {
        if let addCloseFrom = addCloseFromFunction, addCloseFrom(&actions, 3) == 0 { return }
        // Fallback: the descriptors open now. glibc ignores a close action on a descriptor that
        // is closed by the time the child runs.
        for fd in openDescriptors() where fd > 2 {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
    }

    /// The descriptor numbers this process has open, from /proc/self/fd.
    static func openDescriptors() -> [Int32] {
        guard let dir = opendir("/proc/self/fd") else { return [] }
        let own = dirfd(dir)
        var out: [Int32] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if let fd = Int32(name), fd != own { out.append(fd) }
        }
        closedir(dir)
        return out
    }
}
