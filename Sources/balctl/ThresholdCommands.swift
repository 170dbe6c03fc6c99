import ArgumentParser
import BalctlProtocol
import Foundation
import OperatorClient

/// `balctl members thresholds …` and `balctl pools thresholds …`: alert thresholds on a member
/// (overriding its pool's) or a pool (presets for its members). `balctl alerts list`.
struct Thresholds: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "thresholds",
        abstract: "Alert thresholds: show, set, off, unset.",
        discussion: """
            Metrics: \(ThresholdMetric.allCases.map { "\($0.rawValue) (\($0.unit))" }.joined(separator: ", ")).
            An alert is raised when the value reaches the raise level and cleared when it is back at the clear level
            (default: 5 points below for %, 10 % below for load, half for heartbeat_age, one less for haproxy_down,
            one day more for tls_expiry), so a value hovering at the threshold alerts once.
            Alerts go to the pool's failover alert recipients (balctl failover settings … --alert-email).
            """,
        subcommands: [Show.self, Set.self, Off.self, Unset.self], defaultSubcommand: Show.self)

    /// A member (the default) or, with --pool, a pool's presets.
    struct Target: ParsableArguments {
        @Argument(help: "Member ID (or pool ID with --pool).") var id: Int64
        @Flag(help: "The ID is a pool: its presets for every member.") var pool = false
        var path: APIPath { APIPath(pool ? "pools" : "members", id, "thresholds") }
        func path(_ metric: ThresholdMetric) -> APIPath { APIPath(pool ? "pools" : "members", id, "thresholds", metric.rawValue) }
    }

    static func metric(_ text: String) throws -> ThresholdMetric {
        guard let m = ThresholdMetric(rawValue: text) else {
            throw ValidationError("unknown metric '\(text)': one of \(ThresholdMetric.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return m
    }

    static func render(_ v: ThresholdsView, pool: Bool) -> String {
        func row(_ s: ThresholdSetting, _ source: String?) -> [String] {
            let unit = s.metric.unit
            return [s.metric.rawValue, "\(s.metric.raisesBelow ? "≤" : "≥") \(Render.number(s.raiseAt)) \(unit)",
                    "\(s.metric.raisesBelow ? "≥" : "≤") \(Render.number(s.clearAt)) \(unit)", s.enabled ? "on" : "off"] + (source.map { [$0] } ?? [])
        }
        if pool || v.effective == nil {
            return v.own.isEmpty ? "no presets" : Render.table(["METRIC", "RAISE", "CLEAR", "STATE"], v.own.map { row($0, nil) })
        }
        let effective = v.effective ?? []
        var out = effective.isEmpty ? "no thresholds in effect" : Render.table(["METRIC", "RAISE", "CLEAR", "STATE", "FROM"],
                                                                             effective.map { row($0.setting, $0.source) })
        let off = v.own.filter { !$0.enabled }.map(\.metric.rawValue)
        if !off.isEmpty { out += "\nswitched off on this member: \(off.joined(separator: ", "))" }
        return out
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "What is set, and (for a member) what is in effect.")
        @OptionGroup var global: Global
        @OptionGroup var target: Target
        func run() throws {
            try perform {
                let v: ThresholdsView = try global.client().get(target.path)
                try global.output(v) { Thresholds.render(v, pool: target.pool) }
            }
        }
    }

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a threshold: balctl members thresholds set 12 cpu 90 [--clear 80].")
        @OptionGroup var global: Global
        @OptionGroup var target: Target
        @Argument(help: "cpu, memory, disk, load, heartbeat_age, haproxy_down, tls_expiry.") var metric: String
        @Argument(help: "Raise the alert at this value (or below it, for tls_expiry).") var raiseAt: Double
        @Option(help: "Clear it at this value (default: see `balctl members thresholds --help`).") var clear: Double?
        func run() throws {
            let m = try Thresholds.metric(metric)
            let setting = ThresholdSetting(metric: m, raiseAt: raiseAt, clearAt: clear)
            if let problem = setting.problem { throw ValidationError(problem) }
            try perform {
                let v: ThresholdsView = try global.client().send("PUT", target.path(m),
                                                                 SetThresholdRequest(raiseAt: raiseAt, clearAt: clear))
                try global.output(v) { Thresholds.render(v, pool: target.pool) }
            }
        }
    }

    struct Off: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Switch a pool preset off for one member.")
        @OptionGroup var global: Global
        @Argument(help: "Member ID.") var id: Int64
        @Argument var metric: String
        func run() throws {
            let m = try Thresholds.metric(metric)
            try perform {
                // The levels are kept for when it is switched on again; off they are not used.
                let v: ThresholdsView = try global.client().send("PUT", APIPath("members", id, "thresholds", m.rawValue),
                                                                 SetThresholdRequest(raiseAt: m.range.upperBound, enabled: false))
                try global.output(v) { Thresholds.render(v, pool: false) }
            }
        }
    }

    struct Unset: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a member's own threshold (the pool preset applies again) or a pool preset.")
        @OptionGroup var global: Global
        @OptionGroup var target: Target
        @Argument var metric: String
        func run() throws {
            let m = try Thresholds.metric(metric)
            try perform {
                try global.client().delete(target.path(m))
                let v: ThresholdsView = try global.client().get(target.path)
                try global.output(v) { Thresholds.render(v, pool: target.pool) }
            }
        }
    }
}

struct Alerts: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Threshold alerts: what is raised now, and the latest raises and clears.",
        subcommands: [List.self], defaultSubcommand: List.self)

    struct List: ParsableCommand {
        @OptionGroup var global: Global
        @Option(help: "Only this member.") var member: Int64?
        @Option(help: "History lines (1–1000).") var limit: Int = 50
        func run() throws {
            try perform {
                var path = APIPath("alerts").query("limit", limit)
                if let member { path = path.query("member", member) }
                let v: AlertsView = try global.client().get(path)
                try global.output(v) {
                    func rows(_ list: [ThresholdAlertView]) -> [[String]] {
                        list.map { a in
                            [Render.dateTime(a.at), a.hostname, a.metric.rawValue, a.subject.isEmpty ? "-" : a.subject, a.state,
                             Render.number(a.value) + (a.metric.unit == "%" ? "%" : " " + a.metric.unit),
                             "\(Render.number(a.raiseAt)) / \(Render.number(a.clearAt))"]
                        }
                    }
                    let headers = ["AT", "MEMBER", "METRIC", "SUBJECT", "STATE", "VALUE", "RAISE / CLEAR"]
                    return (v.firing.isEmpty ? "nothing raised" : "RAISED NOW\n" + Render.table(headers, rows(v.firing)))
                        + "\n\nHISTORY\n" + (v.history.isEmpty ? "none" : Render.table(headers, rows(v.history)))
                }
            }
        }
    }
}
