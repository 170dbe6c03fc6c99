#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Read a small file (under /proc or /etc) as bytes, at most `limit` of them; nil when it cannot
/// be opened. Reads straight into a stack buffer: /proc files are read on every heartbeat.
public func readSmallFile(_ path: String, limit: Int = 1 << 20) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    return readAll(fd, limit: limit)
}

/// Everything from offset 0 of an open file (pread: a /proc file read again from the start
/// shows its current state), at most `limit` bytes. `shortReadEnds`: a read that returns less
/// than asked is the end, so no second read to see 0. True of /proc files written as one
/// record (`single_open`: uptime, loadavg, stat, meminfo), which are handed out in full
/// buffers until the end; not of files of many records such as mounts, whose reads stop short
/// at a page of records.
func readAll(_ fd: Int32, limit: Int, shortReadEnds: Bool = false) -> [UInt8] {
    withUnsafeTemporaryAllocation(byteCount: 4096, alignment: 1) { buffer -> [UInt8] in
        var bytes: [UInt8] = []
        // Each turn reads at least one byte (towards `limit`) or ends the loop; EINTR is a signal,
        // not a state that repeats by itself.
        while bytes.count < limit {
            let asked = min(buffer.count, limit - bytes.count)
            let n = pread(fd, buffer.baseAddress, asked, off_t(bytes.count))
            if n > 0 {
                bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                if shortReadEnds && n < asked { break }
            }
            else if n < 0 && errno == EINTR { continue }
            else { break }
        }
        return bytes
    }
}

/// The /proc files every heartbeat reads, scanned as bytes: no `String` per line or field (the
/// `split`-based parsing was a quarter of the agent's heartbeat CPU, issue 18).
///
/// Termination: every loop turns over `bytes` with an index that grows on each turn (or the
/// loop ends), so a scan is linear in the input. Each function counts its loop turns in `work`;
/// tests hold every prefix and thousands of mutations of real files to `workBound`.
public enum ProcText {
    /// The most loop turns a scan of `length` bytes may take: each byte is consumed once by a
    /// field or line loop, and each outer (per line) turn consumes at least one byte; number
    /// parsing looks at a field's bytes once more.
    public static func workBound(_ length: Int) -> Int { 4 * length + 16 }

    static func isBlank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 }

    /// The next field of the current line (blank-separated) from `i`, or nil at the end of the
    /// line (`i` is then at the newline or the end).
    static func field(_ b: [UInt8], _ i: inout Int, _ work: inout Int) -> Range<Int>? {
        while i < b.count, isBlank(b[i]) { i += 1; work += 1 }
        let start = i
        while i < b.count, b[i] != 0x0A, !isBlank(b[i]) { i += 1; work += 1 }
        return i > start ? start..<i : nil
    }

    /// Past the next newline (or to the end).
    static func skipLine(_ b: [UInt8], _ i: inout Int, _ work: inout Int) {
        while i < b.count {
            let c = b[i]
            i += 1; work += 1
            if c == 0x0A { return }
        }
    }

    /// A field of decimal digits as a number; nil for anything else, or one that overflows.
    static func unsigned(_ b: [UInt8], _ r: Range<Int>, _ work: inout Int) -> UInt64? {
        var v: UInt64 = 0
        for k in r {
            work += 1
            let d = b[k] &- 0x30
            guard d < 10 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(d))
            if o1 || o2 { return nil }
            v = s
        }
        return r.isEmpty ? nil : v
    }

    /// A field as a finite Double, read the way `Double(String)` reads it (so values are the
    /// same as before to the last bit); nil if it is not one. Short fields only: the numbers in
    /// these files are a few characters, and a long one makes a small string at most.
    static func double(_ b: [UInt8], _ r: Range<Int>, _ work: inout Int) -> Double? {
        guard !r.isEmpty, r.count <= 32 else { return nil }
        work += r.count
        guard let v = Double(String(decoding: b[r], as: UTF8.self)), v.isFinite else { return nil }
        return v
    }

    /// /proc/uptime: the first field, seconds since boot (0 when unreadable).
    public static func uptime(_ b: [UInt8], work: inout Int) -> Double {
        var i = 0
        guard let r = field(b, &i, &work) else { return 0 }
        return double(b, r, &work) ?? 0
    }

    /// /proc/loadavg: the first three fields (an unreadable one is 0; fewer fields, fewer values).
    public static func loadAverages(_ b: [UInt8], work: inout Int) -> [Double] {
        var i = 0
        var out: [Double] = []
        while out.count < 3, let r = field(b, &i, &work) { out.append(double(b, r, &work) ?? 0) }
        return out
    }

    /// /proc/stat's first line, `cpu  user nice system idle iowait irq softirq steal …`: busy and
    /// total jiffies over all CPUs (idle and iowait count as idle). nil without that line, with
    /// fewer than four values, or when the sum does not fit.
    public static func cpuTimes(_ b: [UInt8], work: inout Int) -> (busy: UInt64, total: UInt64)? {
        var i = 0
        guard let label = field(b, &i, &work), label.lowerBound == 0, b[label].elementsEqual("cpu".utf8),
              i < b.count, b[i] == 0x20 else { return nil }
        var values: [UInt64] = []
        while let r = field(b, &i, &work) {
            if let v = unsigned(b, r, &work) { values.append(v) }
        }
        guard values.count >= 4 else { return nil }
        var total: UInt64 = 0
        for v in values {
            let (s, o) = total.addingReportingOverflow(v)
            if o { return nil }
            total = s
        }
        let idle = values[3] + (values.count > 4 ? values[4] : 0)  // both within total: no overflow
        return (total - idle, total)
    }

    /// /proc/meminfo: MemTotal and MemAvailable in bytes (0 when missing). The scan stops once
    /// both are read: they are the first and third of some fifty lines.
    public static func memory(_ b: [UInt8], work: inout Int) -> (total: UInt64, available: UInt64) {
        var total: UInt64 = 0, available: UInt64 = 0
        var found = (total: false, available: false)
        var i = 0
        while i < b.count, !(found.total && found.available) {
            work += 1
            if let key = field(b, &i, &work), let valueRange = field(b, &i, &work),
               let kb = unsigned(b, valueRange, &work) {
                let bytes = kb.multipliedReportingOverflow(by: 1024)
                if !bytes.overflow {
                    if b[key].elementsEqual("MemTotal:".utf8) { total = bytes.partialValue; found.total = true }
                    else if b[key].elementsEqual("MemAvailable:".utf8) { available = bytes.partialValue; found.available = true }
                }
            }
            skipLine(b, &i, &work)
        }
        return (total, available)
    }

    /// A kernel CPU list (`/sys/devices/system/cpu/online`: `0-3,5,7-8`): how many CPUs it names.
    /// nil when it is not one (empty, a descending range, anything but digits, `-` and `,`).
    public static func cpuListCount(_ b: [UInt8], work: inout Int) -> Int? {
        var i = 0, count = 0
        func number() -> Int? {
            let start = i
            var v = 0
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39, i - start < 9 {
                v = v * 10 + Int(b[i] - 0x30); i += 1; work += 1
            }
            return i > start ? v : nil
        }
        while i < b.count, b[i] != 0x0A {
            work += 1
            guard let first = number() else { return nil }
            var last = first
            if i < b.count, b[i] == 0x2D {
                i += 1
                guard let l = number(), l >= first else { return nil }
                last = l
            }
            count += last - first + 1
            if i < b.count, b[i] == 0x2C { i += 1; guard i < b.count, b[i] != 0x0A else { return nil } }
            else if i < b.count, b[i] != 0x0A { return nil }
        }
        return count > 0 ? count : nil
    }

    /// /proc/mounts: (mount point, file system type) of the lines whose type `keep` accepts, the
    /// first of each mount point only. The kernel writes a space, tab, newline and backslash in
    /// a path as `\040`, `\011`, `\012`, `\134`; those are decoded.
    public static func mounts(_ b: [UInt8], keep: (String) -> Bool, work: inout Int) -> [(mount: String, fsType: String)] {
        var out: [(mount: String, fsType: String)] = []
        var seen = Set<String>()
        var i = 0
        while i < b.count {
            work += 1
            if field(b, &i, &work) != nil, let mountRange = field(b, &i, &work), let typeRange = field(b, &i, &work) {
                let fsType = String(decoding: b[typeRange], as: UTF8.self)
                if keep(fsType) {
                    let mount = unescapeOctal(b, mountRange, &work)
                    if seen.insert(mount).inserted { out.append((mount, fsType)) }
                }
            }
            skipLine(b, &i, &work)
        }
        return out
    }

    /// `\ooo` (three octal digits, value under 256) as that byte; anything else as it is.
    static func unescapeOctal(_ b: [UInt8], _ r: Range<Int>, _ work: inout Int) -> String {
        guard b[r].contains(0x5C) else { return String(decoding: b[r], as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(r.count)
        var k = r.lowerBound
        // Each turn consumes one byte, or four for an escape.
        while k < r.upperBound {
            work += 1
            if b[k] == 0x5C, k + 3 < r.upperBound, let v = octal(b[k + 1], b[k + 2], b[k + 3]) {
                out.append(v); k += 4
            } else {
                out.append(b[k]); k += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func octal(_ a: UInt8, _ b: UInt8, _ c: UInt8) -> UInt8? {
        let (x, y, z) = (a &- 0x30, b &- 0x30, c &- 0x30)
        guard x < 4, y < 8, z < 8 else { return nil }
        return x << 6 | y << 3 | z
    }
}
