import Foundation
import ServiceLifecycle

/// Runs `schedulerTick` every second beside the server.
struct Scheduler: Service {
    let server: ControlPlane

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let fired = try await server.store.schedulerTick(
                        now: Date(), recipes: server.recipes, catalogue: server.catalogue, policy: server.config.queue)
                    if fired > 0 { server.logger.info("scheduler: \(fired) schedule(s) fired") }
                } catch is CancellationError {
                    return  // shutting down: the database call was cut short, which is no failure
                } catch {
                    server.logger.error("scheduler tick failed: \(error)")
                }
                // Cancelled at shutdown: end the loop and return. Throwing would make the service
                // group cancel the HTTP server instead of letting it drain its connections.
                try? await Task.sleep(for: .seconds(server.config.schedulerIntervalSec))
            }
        }
    }
}
