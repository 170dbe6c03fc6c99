import ArgumentParser

/// `balctl-bench`: the control plane's measurements, one mode per subcommand. Each prints figures
/// and their ratio to the goal and asserts nothing (goals live here, not in tests).
@main
struct BalctlBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "balctl-bench",
        abstract: "Benchmarks of the control plane (heartbeat throughput by default; failover modes as subcommands).",
        subcommands: [HeartbeatBench.self, DashboardBench.self, WakeBench.self, FailoverTickBench.self, FailoverTimingBench.self, ReplicaBench.self, AgentUpdateBench.self, BackupBench.self],
        defaultSubcommand: HeartbeatBench.self)
}
