@testable import BackupPlugin
import CZstd
import Testing
import TestSupport

/// The snapshot's zstd stream: a standard frame any zstd reader decodes, and — what a resumed
/// upload relies on to skip the parts it already sent — the same bytes for the same settings
/// however the input arrives in pieces, with and without a worker thread.
struct ZstdStreamTests {
    /// ~3 MiB: text that compresses, random bytes that do not, long runs (several 512 KiB jobs).
    static let input: [UInt8] = {
        var rng = SplitMix64(seed: 14)
        var out: [UInt8] = []
        for i in 0..<48 {
            switch i % 3 {
            case 0: out += Array(String(repeating: "frontend www\n  bind :443 ssl crt /etc/haproxy/certs/\(i).pem\n", count: 800).utf8)
            case 1: out += (0..<40_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
            default: out += [UInt8](repeating: UInt8(i), count: 30_000)
            }
        }
        return out
    }()

    static func compress(workers: Int, chunks: [Int]) throws -> (bytes: [UInt8], workers: Int) {
        var out: [UInt8] = []
        let z = try ZstdStream(level: 1, workers: workers) { out += $0 }
        try input.withUnsafeBytes { all in
            var offset = 0, i = 0
            while offset < all.count {
                let n = min(chunks[i % chunks.count], all.count - offset)
                try z.write(UnsafeRawBufferPointer(rebasing: all[offset..<(offset + n)]))
                offset += n; i += 1
            }
        }
        try z.finish()
        return (out, z.workers)
    }

    static func decompress(_ frame: [UInt8], capacity: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: capacity + 1)
        let n = out.withUnsafeMutableBytes { dst in frame.withUnsafeBytes { ZSTD_decompress(dst.baseAddress, dst.count, $0.baseAddress, $0.count) } }
        guard ZSTD_isError(n) == 0 else { return nil }
        return Array(out[0..<n])
    }

    @Test(arguments: [0, 1])
    func theSameBytesWhateverTheChunkingAndAStandardFrame(workers: Int) throws {
        let whole = try Self.compress(workers: workers, chunks: [Self.input.count])
        #expect(whole.workers == workers, "this libzstd has worker threads")
        #expect(whole.bytes.count < Self.input.count * 2 / 3)
        #expect(Self.decompress(whole.bytes, capacity: Self.input.count) == Self.input)
        for chunks in [[1, 7, 4097], [65_536], [10_240, 131_072, 3]] {
            let pieces = try Self.compress(workers: workers, chunks: chunks)
            #expect(pieces.bytes == whole.bytes, "chunks \(chunks), workers \(workers)")
        }
    }

    @Test func anEmptyStreamIsStillAFrame() throws {
        var out: [UInt8] = []
        let z = try ZstdStream(level: 1, workers: 0) { out += $0 }
        try z.write(UnsafeRawBufferPointer(start: nil, count: 0))
        try z.finish()
        #expect(!out.isEmpty)
        #expect(Self.decompress(out, capacity: 16) == [])
    }

    @Test func aSinkErrorStopsTheStream() throws {
        struct Full: Error {}
        let z = try ZstdStream(level: 1, workers: 0) { _ in throw Full() }
        #expect(throws: Full.self) {
            try Self.input.withUnsafeBytes { try z.write($0) }
            try z.finish()
        }
    }
}
