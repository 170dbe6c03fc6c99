import Foundation
import Logging
import ServiceLifecycle

/// Runs `schedulerTick` every second beside the server, on the leader only.
struct Scheduler: Service {
    let server: ControlPlane

    func run() async throws {
        try await runEvery(server.config.schedulerIntervalSec, logger: server.logger, what: "scheduler tick") {
            guard let fence = server.leader.fence() else { return }
            let fired = try await server.store.schedulerTick(
                now: Date(), recipes: server.recipes, catalogue: server.catalogue, policy: server.config.queue, fence: fence)
            server.metrics.schedulesFired(fired)
            if fired > 0 { server.logger.info("scheduler: \(fired) schedule(s) fired") }
        }
    }
}

/// A background service's loop: `tick` every `seconds` until graceful shutdown. A failed tick is
/// logged and the loop goes on. At shutdown the loop ends and returns without throwing: a service
/// that throws makes the service group cancel the HTTP server instead of letting it drain its
/// connections.
func runEvery(_ seconds: Double, logger: Logger, what: String,
              _ tick: @escaping @Sendable () async throws -> Void) async throws {
    try await cancelWhenGracefulShutdown {
        while !Task.isCancelled {
            do {
                try await tick()
            } catch is CancellationError {
                return  // shutting down: a database call was cut short, which is no failure
            } catch {
                logger.error("\(what) failed: \(error)")
            }
            try? await Task.sleep(for: .seconds(seconds))
        }
    }
}
