#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Dispatch

/// Call `handler` on SIGTERM or SIGINT (instead of dying), from a private queue. The handler must
/// not assume any actor: it runs on that queue.
public func onTerminationSignals(_ handler: @escaping @Sendable () -> Void) -> [any DispatchSourceSignal] {
    let queue = DispatchQueue(label: "balctl.signals")
    return [SIGTERM, SIGINT].map { sig in
        signal(sig, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
        source.setEventHandler(handler: handler)
        source.resume()
        return source
    }
}
