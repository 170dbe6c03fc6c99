#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Run `body` with this thread's character type set to UTF-8 (`uselocale`: other threads and the
/// process locale are untouched).
///
/// libarchive converts entry names between UTF-8 and the thread's locale. The agent runs in the
/// C locale (ASCII), where libarchive 3.6.2's pax writer dereferences NULL on a hard link whose
/// target is not ASCII — a user who hard-links a file as "über" would crash the agent's backup —
/// and its disk writer cannot turn such a target back into bytes to link. Snapshot names are
/// UTF-8, so the writer and the extractor work under C.UTF-8 (built into glibc ≥ 2.35).
func withUTF8Locale<T>(_ body: () throws -> T) rethrows -> T {
    // LC_CTYPE_MASK is a macro Swift does not import: 1 << LC_CTYPE.
    guard let utf8 = newlocale(Int32(1) << LC_CTYPE, "C.UTF-8", nil) else { return try body() }
    let previous = uselocale(utf8)
    defer {
        uselocale(previous)
        freelocale(utf8)
    }
    return try body()
}
