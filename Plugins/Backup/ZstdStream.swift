import AgentKernel
import CZstd

/// One zstd frame, compressed as its input arrives; whatever zstd produces goes to `sink`.
///
/// With `workers` ≥ 1 libzstd compresses on threads of its own, in jobs of `jobBytes`, while the
/// caller goes on reading, hashing and archiving the next bytes — as `tar | zstd` splits the work
/// over two cores. The job size is set because zstd's default for level 1 (2 MiB jobs, each
/// with an output buffer, and a 6 MiB input ring) costs ~15 MiB, over the agent's memory budget;
/// 512 KiB jobs (zstd's minimum) cost ~4 MiB. The output is the same for the same level, worker
/// count ≥ 1 and job size whatever the input's chunking, so a resumed attempt reproduces its parts.
final class ZstdStream {
    private let cctx: OpaquePointer
    private let out: UnsafeMutableRawPointer
    private let outCapacity: Int
    private let sink: (UnsafeRawBufferPointer) throws -> Void
    /// Worker threads actually in use (0 when this libzstd was built without them).
    private(set) var workers = 0

    static let defaultJobBytes = 512 << 10

    init(level: Int, workers: Int, jobBytes: Int = ZstdStream.defaultJobBytes,
         sink: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let c = ZSTD_createCCtx() else { throw JobFailure("zstd: cannot allocate a compression context") }
        cctx = c
        outCapacity = ZSTD_CStreamOutSize()
        out = .allocate(byteCount: outCapacity, alignment: 64)
        self.sink = sink
        try set(ZSTD_c_compressionLevel, level)
        // A libzstd without threads refuses nbWorkers: compress on this thread then.
        if workers > 0, ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_nbWorkers, Int32(workers))) == 0 {
            self.workers = workers
            try set(ZSTD_c_jobSize, jobBytes)
        }
    }

    deinit {
        ZSTD_freeCCtx(cctx)
        out.deallocate()
    }

    private func set(_ p: ZSTD_cParameter, _ value: Int) throws {
        let r = ZSTD_CCtx_setParameter(cctx, p, Int32(value))
        if ZSTD_isError(r) != 0 { throw JobFailure("zstd: cannot set parameter \(p.rawValue) to \(value): \(String(cString: ZSTD_getErrorName(r)))") }
    }

    /// Compress `bytes` (zstd keeps what it cannot compress yet).
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        var input = ZSTD_inBuffer(src: base, size: bytes.count, pos: 0)
        // Each call consumes input or produces output (with workers it waits for a job rather
        // than return with neither), so the loop advances.
        while input.pos < input.size { try step(&input, ZSTD_e_continue) }
    }

    /// End the frame: everything still held is compressed and handed to the sink.
    func finish() throws {
        var input = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
        while try step(&input, ZSTD_e_end) != 0 {}
    }

    /// One call; returns zstd's "bytes left to flush" hint (0: the frame is complete, for e_end).
    @discardableResult
    private func step(_ input: inout ZSTD_inBuffer, _ op: ZSTD_EndDirective) throws -> Int {
        var output = ZSTD_outBuffer(dst: out, size: outCapacity, pos: 0)
        let r = ZSTD_compressStream2(cctx, &output, &input, op)
        if ZSTD_isError(r) != 0 { throw JobFailure("zstd: \(String(cString: ZSTD_getErrorName(r)))") }
        if output.pos > 0 { try sink(UnsafeRawBufferPointer(start: out, count: output.pos)) }
        return r
    }
}
