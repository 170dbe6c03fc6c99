@testable import AgentKernel
import Foundation
import Testing

/// `PinnedDirectory`: no link on the way to a directory is followed, and nothing below it is
/// read, written or removed through a link.
@Suite("PinnedDirectory")
struct PinnedDirectoryTests {
    @Test("a link anywhere on the path is refused; a real path opens, and missing components are made with mode and owner")
    func linksOnThePathAreRefused() throws {
        let dir = try TempDir()
        try FileManager.default.createDirectory(atPath: dir.file("real/sub"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.file("elsewhere"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.file("owned"), withIntermediateDirectories: true)
        chown(dir.file("owned"), 4242, 4242)   // another user's directory: links in it are not root's
        symlink(dir.file("elsewhere"), dir.file("owned/link"))
        #expect(throws: SafeFileError.self) { _ = try PinnedDirectory.open(dir.file("owned/link")) }
        #expect(throws: SafeFileError.self) { _ = try PinnedDirectory.open(dir.file("owned/link/new"), create: (0o750, nil)) }
        #expect(!FileManager.default.fileExists(atPath: dir.file("elsewhere/new")))
        #expect(throws: SafeFileError.self) { _ = try PinnedDirectory.open(dir.file("real/../real")) }

        let (p, created) = try PinnedDirectory.open(dir.file("real/sub/a/b"), create: (0o750, SafeFile.Owner(uid: 4242, gid: 4343)))
        #expect(created == [dir.file("real/sub/a"), dir.file("real/sub/a/b")])
        var st = stat()
        #expect(stat(dir.file("real/sub/a/b"), &st) == 0 && st.st_mode & 0o777 == 0o750 && st.st_uid == 4242 && st.st_gid == 4343)
        try p.write("f", Array("x".utf8), mode: 0o640, owner: nil)
        #expect(try p.read("f")?.bytes == Array("x".utf8))
        #expect(try p.read("f")?.mode == 0o640)
        #expect(try p.read("missing") == nil)
        #expect(try p.remove("f"))
        #expect(try !p.remove("f"))
    }

    @Test("a link root made in a directory only root writes is followed; the same link in a directory another user owns is not")
    func rootsOwnLinksAreFollowed() throws {
        let dir = try TempDir()   // mkdtemp: root's, 0700
        try FileManager.default.createDirectory(atPath: dir.file("target/conf"), withIntermediateDirectories: true)
        symlink(dir.file("target"), dir.file("lsws"))
        let (p, _) = try PinnedDirectory.open(dir.file("lsws/conf"))
        #expect(p.path == dir.file("lsws/conf"))
        try FileManager.default.createDirectory(atPath: dir.file("user"), withIntermediateDirectories: true)
        chown(dir.file("user"), 4242, 4242)
        symlink(dir.file("target"), dir.file("user/lsws"))
        #expect(throws: SafeFileError.self) { _ = try PinnedDirectory.open(dir.file("user/lsws/conf")) }
        chown(dir.file("user"), 0, 0)
        chmod(dir.file("user"), 0o777)
        #expect(throws: SafeFileError.self) { _ = try PinnedDirectory.open(dir.file("user/lsws/conf")) }
    }

    @Test("a link at the name is never read, written over or removed")
    func linksAtTheNameAreRefused() throws {
        let dir = try TempDir()
        try dir.write("secret", "precious\n")
        try FileManager.default.createDirectory(atPath: dir.file("d"), withIntermediateDirectories: true)
        symlink(dir.file("secret"), dir.file("d/l"))
        let (p, _) = try PinnedDirectory.open(dir.file("d"))
        #expect(throws: SafeFileError.self) { _ = try p.read("l") }
        #expect(throws: SafeFileError.self) { try p.write("l", Array("owned".utf8), mode: 0o644, owner: nil) }
        #expect(throws: SafeFileError.self) { try p.remove("l") }
        #expect(try String(contentsOfFile: dir.file("secret"), encoding: .utf8) == "precious\n")
        var st = stat()
        #expect(lstat(dir.file("d/l"), &st) == 0 && st.st_mode & S_IFMT == S_IFLNK)
    }
}
