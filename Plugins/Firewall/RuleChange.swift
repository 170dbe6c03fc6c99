import AgentKernel
import BalctlProtocol

/// What `firewall.allow` and `firewall.deny` share: the idempotency check, the lock-out guard
/// (denies), check mode, the ufw call and a re-read that proves the rule is there.
enum RuleChange {
    static func add(_ action: FirewallAction, _ p: RuleParameters, settings: FirewallSettings,
                    context: JobContext) async throws -> JobOutcome {
        if settings.selectedTool() == .firewalld { return try await Firewalld.add(action, p, settings: settings, context: context) }
        let spec = p.spec(action)
        let ufw = try UFWControl(settings, context)
        let state = try ufw.state()
        if let existing = state.rules.first(where: spec.sameMatch), existing.action == action,
           spec.comment == nil || existing.comment == spec.comment {
            return .unchanged("unchanged: \(spec.summary) is already a rule", result: existing.json)
        }
        if action == .deny || action == .reject {
            let guardrail = await LockoutGuard.make(settings, context: context)
            try guardrail.check(spec.applied(to: state.rules), defaultIncoming: state.defaultIncoming,
                                defaultOutgoing: state.defaultOutgoing, force: p.force ?? false,
                                what: spec.summary, context: context)
        }
        let args = spec.ufwArguments()
        if context.checkMode {
            return JobOutcome(changed: true, summary: "check mode: would \(spec.summary)",
                              result: .object(["wouldRun": .array(([ufw.program] + args).map(JSONValue.string))]))
        }
        try await ufw.run(args)
        let after = try ufw.state()
        guard let rule = after.rules.first(where: spec.sameMatch), rule.action == action else {
            throw JobFailure("ufw \(args.joined(separator: " ")) succeeded but the rule is not in user.rules")
        }
        return JobOutcome(changed: true, summary: "added: \(spec.summary)", result: rule.json)
    }
}
