import AgentKernel
import BalctlProtocol

/// `firewall.delete`: remove the rule(s) with this match (and `action` when given; both the
/// IPv4 and IPv6 twins). Nothing matches → "unchanged". Removing what keeps SSH or the control
/// plane reachable is refused unless `force: true`.
public struct DeleteHandler: CommandHandler {
    public struct Parameters: CommandParameters {
        public var rule: RuleParameters
        /// allow | deny | reject | limit; nil: whichever rules match.
        public var action: FirewallAction?

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: Keys.self)
            if c.contains(.rule) { throw ParameterError("unexpected parameter 'rule': give port, protocol, … at the top level") }
            action = try c.decodeIfPresent(FirewallAction.self, forKey: .action)
            rule = try RuleParameters(from: decoder)
            if rule.comment != nil { throw ParameterError("comment: not taken by firewall.delete") }
        }
        public func encode(to encoder: any Encoder) throws {
            try rule.encode(to: encoder)
            var c = encoder.container(keyedBy: Keys.self)
            try c.encodeIfPresent(action, forKey: .action)
        }
        enum Keys: String, CodingKey { case action, rule }
        public func validate() throws { try rule.validate() }
    }

    let settings: FirewallSettings
    public init(settings: FirewallSettings) { self.settings = settings }
    public static let id = "firewall.delete"
    public static let summary = "Delete a rule (ufw or firewalld), guarded against lock-out"
    public static let parameterHelp = "port, protocol, direction, source, destination as for firewall.allow; action: allow|deny|reject|limit (default: any); force: bool"
    public static let requiresRoot = true
    public static let lock: String? = FirewallPlugin.lock
    public static let supportsCheckMode = true
    public static let exampleParameters: JSONValue = .object(["port": .number(443), "protocol": .string("tcp")])

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        if settings.selectedTool() == .firewalld { return try await Firewalld.delete(p, settings: settings, context: context) }
        let base = p.rule.spec(.allow)
        let ufw = try UFWControl(settings, context)
        let state = try ufw.state()
        let matching = state.rules.filter { base.sameMatch($0) && (p.action == nil || $0.action == p.action) }
        guard !matching.isEmpty else {
            return .unchanged("unchanged: no rule \(base.summary.dropFirst(6)) to delete")
        }
        var actions: [FirewallAction] = []
        for r in matching where !actions.contains(r.action) { actions.append(r.action) }
        let remaining = base.removed(from: state.rules, actions: Set(actions))
        let guardrail = await LockoutGuard.make(settings, context: context)
        try guardrail.check(remaining, defaultIncoming: state.defaultIncoming, defaultOutgoing: state.defaultOutgoing,
                            force: p.rule.force ?? false, what: "delete \(base.summary.dropFirst(6))", context: context)
        var spec = base
        let runs = actions.map { a -> [String] in spec.action = a; return spec.ufwArguments(delete: true) }
        if context.checkMode {
            return JobOutcome(changed: true, summary: "check mode: would delete \(matching.count) rule(s)",
                              result: .object(["rules": .array(matching.map(\.json)),
                                               "wouldRun": .array(runs.map { .array(([ufw.program] + $0).map(JSONValue.string)) })]))
        }
        for args in runs { try await ufw.run(args) }
        let after = try ufw.state()
        if after.rules.contains(where: { base.sameMatch($0) && actions.contains($0.action) }) {
            throw JobFailure("ufw delete ran but a matching rule is still in user.rules")
        }
        return JobOutcome(changed: true, summary: "deleted \(matching.count) rule(s): \(base.summary.dropFirst(6))",
                          result: .object(["rules": .array(matching.map(\.json))]))
    }
}
