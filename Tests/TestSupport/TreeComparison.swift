import Foundation
import Testing

/// Content, type, mode, owner, mtime and link targets of every entry, compared.
public func expectSameTree(_ a: URL, _ b: URL, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let fm = FileManager.default
    let left = try fm.subpathsOfDirectory(atPath: a.path).sorted()
    let right = try fm.subpathsOfDirectory(atPath: b.path).sorted()
    #expect(left == right, sourceLocation: sourceLocation)
    for rel in [""] + left {
        let pa = rel.isEmpty ? a.path : a.path + "/" + rel, pb = rel.isEmpty ? b.path : b.path + "/" + rel
        var x = stat(), y = stat()
        guard lstat(pa, &x) == 0, lstat(pb, &y) == 0 else { Issue.record("missing \(rel)", sourceLocation: sourceLocation); continue }
        #expect(x.st_mode == y.st_mode, "mode of \(rel)", sourceLocation: sourceLocation)
        #expect(x.st_uid == y.st_uid && x.st_gid == y.st_gid, "owner of \(rel)", sourceLocation: sourceLocation)
        #expect(x.st_mtim.tv_sec == y.st_mtim.tv_sec && x.st_mtim.tv_nsec == y.st_mtim.tv_nsec, "mtime of \(rel)", sourceLocation: sourceLocation)
        if (x.st_mode & S_IFMT) == S_IFLNK {
            #expect(try fm.destinationOfSymbolicLink(atPath: pa) == fm.destinationOfSymbolicLink(atPath: pb), sourceLocation: sourceLocation)
        } else if (x.st_mode & S_IFMT) == S_IFREG {
            #expect(fm.contentsEqual(atPath: pa, andPath: pb), "content of \(rel)", sourceLocation: sourceLocation)
        }
    }
}
