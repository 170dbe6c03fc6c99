import Synchronization
import TestSupport

/// What a contract emulator saw: each request ("METHOD /path", in order) and each departure from
/// the documented contract. Tests require `violations` to stay empty: an unexpected request fails.
final class ContractRecorder: Sendable {
    private struct State { var log: [String] = []; var violations: [String] = [] }
    private let state = Mutex(State())

    var log: [String] { state.withLock { $0.log } }
    var violations: [String] { state.withLock { $0.violations } }

    func request(_ r: TinyHTTPServer.Request) { state.withLock { $0.log.append("\(r.method) \(r.path)") } }
    func violation(_ what: String, _ r: TinyHTTPServer.Request) {
        state.withLock { $0.violations.append("\(r.method) \(r.path): \(what)") }
    }
}
