@testable import AgentKernel
import BalctlProtocol
import Foundation
import Testing

/// Issue 20 item 11: root writes files through unique O_EXCL|O_NOFOLLOW temp files, sets owner and
/// mode on the descriptor, and never writes through (or over) a symlink.
@Suite("SafeFile")
struct SafeFileTests {
    /// A file outside the directory being written, standing for /etc/shadow.
    func victim(_ dir: TempDir) throws -> String {
        try dir.write("victim", "precious\n")
        chmod(dir.file("victim"), 0o644)
        return dir.file("victim")
    }

    func isSymlink(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFLNK
    }

    @Test("issue 20 item 11: a symlink planted at the old fixed temp name is not written through, chmod'ed or renamed into place")
    func plantedTempLink() throws {
        let dir = try TempDir()
        let victim = try victim(dir)
        try FileManager.default.createDirectory(atPath: dir.file("state"), withIntermediateDirectories: true)
        let target = dir.file("state/agent.env")
        symlink(victim, target + ".tmp")

        try SafeFile.write(target, Array("BALCTL_X=1\n".utf8), mode: 0o600)

        #expect(try dir.read("victim") == "precious\n", "nothing written through the planted link")
        #expect(statOf(victim)?.mode == 0o644, "the victim's mode is untouched")
        #expect(try dir.read("state/agent.env") == "BALCTL_X=1\n")
        #expect(statOf(target)?.mode == 0o600)
        #expect(!isSymlink(target), "the target is a new regular file, not the planted link renamed")
        #expect(isSymlink(target + ".tmp"), "the planted link is left alone")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.file("state")).filter { $0.contains("balctl-tmp") }
        #expect(leftovers.isEmpty, "no temp file left behind: \(leftovers)")
    }

    @Test("issue 20 item 11: a target that is a symlink is refused (not followed, not replaced)")
    func targetLink() throws {
        let dir = try TempDir()
        let victim = try victim(dir)
        let target = dir.file("agent.env")
        symlink(victim, target)
        #expect(throws: SafeFileError.self) { try SafeFile.write(target, Array("x".utf8), mode: 0o600) }
        #expect(try dir.read("victim") == "precious\n")
        #expect(isSymlink(target), "the operator's link stays a link")
        do { try SafeFile.write(target, Array("x".utf8), mode: 0o600) } catch {
            #expect(error.description.contains("is a symbolic link"), "\(error)")
        }
        // EnvFile.write and InFlightStore.save go through the same door.
        #expect(throws: (any Error).self) { try EnvFile.write([("BALCTL_A", "1")], to: target) }
        #expect(try dir.read("victim") == "precious\n")
    }

    @Test("issue 20 item 11: owner and mode are set on the new file (not on what a path points to), content replaced atomically")
    func ownerAndMode() throws {
        let dir = try TempDir()
        let target = dir.file("cfg")
        try dir.write("cfg", "old\n")
        let inodeBefore = try #require(statOf(target)?.inode)
        try SafeFile.write(target, Array("new\n".utf8), mode: 0o640, owner: .init(uid: 65534, gid: 65534))
        #expect(try dir.read("cfg") == "new\n")
        var st = stat()
        #expect(stat(target, &st) == 0)
        #expect(st.st_uid == 65534 && st.st_gid == 65534, "owner set (the tests run as root)")
        #expect(st.st_mode & 0o7777 == 0o640, "mode exactly as asked, whatever the umask")
        #expect(UInt64(st.st_ino) != inodeBefore, "a new file renamed over the old one")
    }

    @Test("issue 20 item 11: createNew refuses an existing file or link; writeUnique never reuses a name")
    func exclusive() throws {
        let dir = try TempDir()
        let victim = try victim(dir)
        symlink(victim, dir.file("key.pem"))
        #expect(throws: SafeFileError.self) { try SafeFile.createNew(dir.file("key.pem"), Array("secret".utf8), mode: 0o600) }
        #expect(try dir.read("victim") == "precious\n")
        try SafeFile.createNew(dir.file("new.pem"), Array("secret".utf8), mode: 0o600)
        #expect(statOf(dir.file("new.pem"))?.mode == 0o600)
        #expect(throws: SafeFileError.self) { try SafeFile.createNew(dir.file("new.pem"), Array("again".utf8), mode: 0o600) }

        let a = try SafeFile.writeUnique(in: dir.path, prefix: "cand-", Array("a".utf8), mode: 0o600)
        let b = try SafeFile.writeUnique(in: dir.path, prefix: "cand-", Array("b".utf8), mode: 0o600)
        #expect(a != b && a.hasPrefix(dir.file("cand-")))
        #expect(try String(contentsOfFile: a, encoding: .utf8) == "a")
    }

    @Test("issue 20 item 11: InFlightStore writes its record through a planted temp link without touching the target")
    func inFlightStore() throws {
        let dir = try TempDir()
        let victim = try victim(dir)
        let store = InFlightStore(stateDir: dir.file("state"))
        try store.prepare()
        let job = ClaimedJob(id: 7, command: "host.echo", params: .emptyObject, attempt: 1, leaseSec: 30, timeoutSec: 60, checkMode: false)
        symlink(victim, store.directory + "/7-1.json.tmp")
        store.save(InFlightRecord(job: job, startedAt: 1, completion: nil))
        #expect(try dir.read("victim") == "precious\n")
        #expect(store.all().map(\.job.id) == [7])
        #expect(statOf(store.directory + "/7-1.json")?.mode == 0o600)
    }
}
