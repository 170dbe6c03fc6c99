import AgentKernel
import Testing
@testable import BackupPlugin

/// The manifest's file hashes, computed on the hasher's thread while the writer compresses: the
/// digest is the content's, whatever the chunking, for files hashed there or inline, one file
/// after another through the same hasher.
struct ContentHasherTests {
    @Test func digestsMatchTheContentWhateverTheChunking() {
        let chunk = 1 << 16
        let hasher = ContentHasher(chunkBytes: chunk)
        var seed: UInt64 = 0x9e3779b97f4a7c15
        for (size, offload) in [(0, true), (1, true), (chunk - 1, true), (chunk, true), (7 * chunk / 2, true), (5 * chunk + 3, false), (3 * chunk, true)] {
            let content = (0..<size).map { _ -> UInt8 in
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                return UInt8(truncatingIfNeeded: seed >> 33)
            }
            let file = hasher.begin(offload: offload)
            var done = 0
            while done < size {
                let n = min(chunk, size - done)
                let buffer = file.nextBuffer()
                content.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress! + done, byteCount: n) }
                file.hash(buffer, n)
                done += n
            }
            #expect(file.finish() == SHA256Stream.hex(content), "size \(size), offload \(offload)")
        }
    }
}
