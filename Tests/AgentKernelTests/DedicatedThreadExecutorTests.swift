@testable import AgentKernel
import Foundation
import Testing

/// The heartbeat loop's own thread (issue 18): the loop's task and its child tasks run there (so
/// the heartbeat's blocking transfer may run there too), tasks it starts with `Task {}` do not,
/// and the thread ends after `stop()` once idle.
@Suite struct DedicatedThreadExecutorTests {
    @Test("the preferring task runs on the thread, across awaits and in child tasks; a Task {} it starts does not")
    func runsWhereExpected() async {
        let executor = DedicatedThreadExecutor()
        defer { executor.stop() }
        #expect(!executor.isCurrentThread)
        let seen = await withTaskExecutorPreference(executor) { () async -> [Bool] in
            var seen = [executor.isCurrentThread]
            try? await Task.sleep(for: .milliseconds(20))  // resumed from a timer on another thread
            seen.append(executor.isCurrentThread)
            async let child = executor.isCurrentThread
            seen.append(await child)
            seen.append(await withTaskGroup(of: Bool.self) { group in
                group.addTask { executor.isCurrentThread }
                return await group.next() ?? false
            })
            // Unstructured: runs on the shared pool (jobs, the long poll), never on this thread.
            seen.append(await Task { executor.isCurrentThread }.value)
            seen.append(await Task.detached { executor.isCurrentThread }.value)
            return seen
        }
        #expect(seen == [true, true, true, true, false, false])
        #expect(!executor.isCurrentThread)
    }

    @Test("after stop the thread ends once idle; work preferring it later starts a thread again")
    func stopsAndRestarts() async throws {
        let executor = DedicatedThreadExecutor()
        #expect(!executor.hasThread)
        #expect(await withTaskExecutorPreference(executor) { executor.isCurrentThread })
        #expect(executor.hasThread)
        executor.stop()
        let deadline = ContinuousClock.now + .seconds(5)
        while executor.hasThread, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(!executor.hasThread)
        // Nothing is stranded: a later task preferring it still runs, on a thread of its own.
        let again = await withTaskExecutorPreference(executor) { () async -> Bool in
            try? await Task.sleep(for: .milliseconds(5))
            return executor.isCurrentThread
        }
        #expect(again)
    }

    @Test("jobs enqueued from many tasks at once all run, each on the thread")
    func manyTasks() async {
        let executor = DedicatedThreadExecutor()
        defer { executor.stop() }
        let sums = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    await withTaskExecutorPreference(executor) { () async -> Int in
                        var ok = 0
                        for _ in 0..<200 {
                            await Task.yield()  // each turn is a job enqueued on the executor again
                            if executor.isCurrentThread { ok += 1 }
                        }
                        return ok
                    }
                }
            }
            return await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(sums == Array(repeating: 200, count: 8))
    }
}
