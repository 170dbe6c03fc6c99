import Foundation
@testable import HAProxyPlugin

/// Processes that only pretend to be haproxy, for the trust tests (issue 20 item 10). A copy of
/// dash named `haproxy` shows up in /proc as "haproxy" with any command line we like, and stays
/// alive while its loop runs; `setpriv` runs a program as another user.
final class FakeHAProxy: @unchecked Sendable {
    let process: Process

    /// `executable` (a dash copy) with argv `haproxy -c <loop> haproxy <arguments…>`, as `user`
    /// (nil: root, like the tests).
    init(executable: String, arguments: [String], user: String? = nil, cwd: String? = nil) throws {
        let loop = ["-c", "while :; do sleep 0.2; done", "haproxy"] + arguments
        process = Process()
        if let user {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--reuid=\(user)", "--regid=nogroup", "--clear-groups", executable] + loop
        } else {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = loop
        }
        if let cwd { process.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let pid = process.processIdentifier
        try waitUntil("the fake haproxy \(pid) shows in /proc") {
            ProcessTable().haproxy(pid)?.argv.contains(arguments.last ?? "") == true
        }
    }

    var pid: Int32 { process.processIdentifier }

    deinit { stopProcess(process) }

    /// A dash copy named haproxy in `dir` (made readable and executable for every user).
    static func makeBinary(in dir: String) throws -> String {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        let path = dir + "/haproxy"
        try FileManager.default.copyItem(atPath: "/bin/dash", toPath: path)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return path
    }
}

/// A Unix socket that answers every connection with a canned text, or (answer nil) accepts and
/// never answers: a wedged haproxy.
final class CannedSocket: @unchecked Sendable {
    let path: String
    private let fd: Int32
    private let lock = NSLock()
    private var held: [Int32] = []

    init(path: String, answer: String?) throws {
        self.path = path
        let fd = try listenUnixSocket(path, backlog: 64)
        self.fd = fd
        let bytes = answer.map { Array($0.utf8) }
        Thread.detachNewThread { [self] in
            while true {
                let c = accept(fd, nil, nil)
                if c < 0 { return }
                guard let bytes else {
                    lock.lock(); held.append(c); lock.unlock()
                    continue
                }
                var byte: UInt8 = 0
                while read(c, &byte, 1) == 1 && byte != 0x0A {}
                var sent = 0
                while sent < bytes.count {
                    let n = bytes.withUnsafeBytes { send(c, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
                    if n <= 0 { break }
                    sent += n
                }
                close(c)
            }
        }
    }

    deinit {
        shutdown(fd, Int32(SHUT_RDWR)); close(fd); unlink(path)
        lock.lock(); held.forEach { close($0) }; lock.unlock()
    }

    /// `show stat` CSV with `rows` server rows named `prefix0`, `prefix1` … in backend `be`.
    static func statCSV(rows: Int, prefix: String = "s") -> String {
        var csv = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status\n"
        for i in 0..<rows {
            csv += "be,\(prefix)\(i),0,0,0,0,,0,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,1,0,,1,2,\(i + 1),,0,,2,0,,0,L4OK\n"
        }
        return csv
    }
}
