/// Run blocking work (a Unix-socket conversation, a /proc scan) on its own OS thread and await its
/// result. Swift's cooperative pool has one thread per core: a peer that never answers would hold
/// one of them for the whole timeout, and a few such calls stall every task in the agent, the
/// heartbeat included (issue 20 item 20). On its own thread it holds only that thread.
public func runBlocking<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
    let result: Result<T, E> = await withCheckedContinuation { continuation in
        runOnNewThread { continuation.resume(returning: Result(catching: body)) }
    }
    return try result.get()
}
