import AgentKernel
import BalctlProtocol

extension RuleSpec {
    /// The default zone's entries this rule is: a plain allow from anywhere is a port
    /// (`--add-port=22/tcp`), anything else a rich rule (`rule family="ipv4" source
    /// address="10.0.0.0/8" port port="22" protocol="tcp" accept`; a deny is `drop`, a reject
    /// `reject`; no family when from anywhere, so it holds for IPv4 and IPv6). Protocol `any`
    /// is two entries (tcp and udp): firewalld ports always name one.
    func firewalldEntries() throws -> [FirewalldEntry] {
        guard direction == .in else {
            throw JobFailure("firewalld: outbound rules are not supported (a zone filters incoming traffic only)")
        }
        let verdict: FirewalldRichRule.Verdict
        switch action {
        case .allow: verdict = .accept
        case .deny: verdict = .drop
        case .reject: verdict = .reject
        case .limit: throw JobFailure("firewalld: limit rules are not supported")
        }
        return protocols.map { p in
            if action == .allow && remote == nil { return .port(port, p) }
            return .rich(FirewalldRichRule(family: family, source: remote?.text, port: port, proto: p, verdict: verdict))
        }
    }

    var protocols: [FirewallProtocol] { proto == .any ? [.tcp, .udp] : [proto] }
    var family: String? { remote.map { $0.family == .v4 ? "ipv4" : "ipv6" } }

    /// Entries of `zone` with this rule's match (port, protocol, source), whatever their action
    /// (`actions` nil) or with one of `actions`.
    func firewalldMatches(in zone: FirewalldZone, actions: Set<FirewallAction>? = nil) -> [FirewalldEntry] {
        var out: [FirewalldEntry] = []
        for p in protocols {
            if remote == nil, actions?.contains(.allow) ?? true, zone.has(.port(port, p)) { out.append(.port(port, p)) }
            for r in zone.rich where r.isSimple && r.family == family && r.source == remote?.text && r.port == port
                && r.proto == p && (actions.map { a in r.action.map(a.contains) ?? false } ?? true) {
                out.append(.rich(r))
            }
        }
        return out
    }
}

/// The firewall.* commands on firewalld. They act on the default zone's permanent
/// configuration (read from /etc/firewalld, else the package's /usr/lib/firewalld) and apply
/// it to the running daemon with `--reload`; the lock-out guard reads that zone as firewalld
/// applies it (deny rich rules, then ports, services and accept rich rules, then the target).
enum Firewalld {
    static func guardCheck(_ state: FirewalldState, _ settings: FirewallSettings, context: JobContext,
                           force: Bool, what: String) async throws {
        let guardrail = await LockoutGuard.make(settings, context: context)
        try guardrail.check(state.inRules + state.outRules, defaultIncoming: state.zone.defaultIncoming,
                            defaultOutgoing: state.defaultOutgoing, force: force, what: what, context: context)
    }

    static func status(_ settings: FirewallSettings, context: JobContext) async throws -> JobOutcome {
        var installed = false
        if FirewallSettings.resolve(settings.firewallCmd) == nil && FirewallSettings.resolve(settings.firewallOfflineCmd) == nil {
            // The docs' "auto-installed on first Refresh rules": RHEL-family hosts only.
            guard settings.isRHELFamily() else { throw JobFailure("firewalld is not installed") }
            guard let dnf = FirewallSettings.resolve(settings.dnf) else {
                throw JobFailure("firewalld is not installed and dnf is not there to install it")
            }
            if context.checkMode {
                return JobOutcome(changed: true, summary: "check mode: would install firewalld (dnf install -y firewalld)",
                                  result: .object(["tool": .string("firewalld"), "installed": .bool(false),
                                                   "wouldRun": .array([dnf, "install", "-y", "firewalld"].map(JSONValue.string))]))
            }
            context.log("firewalld is not installed: dnf install -y firewalld")
            let r = try await context.run(dnf, ["install", "-y", "firewalld"], timeoutSec: 900)
            guard r.succeeded else {
                throw JobFailure("dnf install -y firewalld failed with exit code \(r.exitCode): \(r.output.trimmingWhitespace.lastLines(5))")
            }
            installed = true
        }
        let fw: FirewalldControl
        do { fw = try FirewalldControl(settings, context) } catch {
            throw JobFailure("dnf install -y firewalld ran but neither firewall-cmd nor firewall-offline-cmd is there")
        }
        let state = try fw.state()
        let live = await fw.running()
        let boot = await fw.enabledAtBoot()
        let guardrail = await LockoutGuard.make(settings, context: context)
        let problems = guardrail.problems(state.inRules + state.outRules, defaultIncoming: state.zone.defaultIncoming,
                                          defaultOutgoing: state.defaultOutgoing)
        let result: JSONValue = .object([
            "tool": .string("firewalld"), "active": .bool(live), "enabledAtBoot": boot.map(JSONValue.bool) ?? .null,
            "defaultZone": .string(state.zone.name), "target": .string(state.zone.target),
            "defaultIncoming": .string(state.zone.defaultIncoming), "defaultOutgoing": .string(state.defaultOutgoing),
            "defaultRouted": .null, "ipv6": .bool(true),
            "rules": .number(Double(state.zone.ruleCount)), "installed": .bool(installed),
            "sshPorts": .array(guardrail.sshPorts.map { .number(Double($0)) }),
            "lockoutProblems": .array(problems.map(JSONValue.string)),
        ])
        let summary = "firewalld \(live ? "running" : "stopped"), zone \(state.zone.name) (target \(state.zone.target)), \(state.zone.ruleCount) rules"
        if installed { return JobOutcome(changed: true, summary: "installed firewalld; " + summary, result: result) }
        return .unchanged(summary, result: result)
    }

    static func rules(_ settings: FirewallSettings, context: JobContext) async throws -> JobOutcome {
        let fw = try FirewalldControl(settings, context)
        let state = try fw.state()
        let list = state.listed
        return .unchanged("\(list.count) rules (zone \(state.zone.name))", result: .object([
            "tool": .string("firewalld"), "defaultZone": .string(state.zone.name), "target": .string(state.zone.target),
            "defaultIncoming": .string(state.zone.defaultIncoming), "defaultOutgoing": .string(state.defaultOutgoing),
            "rules": .array(list),
        ]))
    }

    static func add(_ action: FirewallAction, _ p: RuleParameters, settings: FirewallSettings,
                    context: JobContext) async throws -> JobOutcome {
        let spec = p.spec(action)
        let entries = try spec.firewalldEntries()
        let fw = try FirewalldControl(settings, context)
        let state = try fw.state()
        // The same match with another action is replaced, as ufw does in place.
        let replaced = spec.firewalldMatches(in: state.zone).filter { e in !entries.contains { $0.same(e) } }
        let missing = entries.filter { !state.zone.has($0) }
        if missing.isEmpty && replaced.isEmpty {
            return .unchanged("unchanged: \(spec.summary) is already in zone \(state.zone.name)",
                              result: .object(["entries": .array(entries.map { .string($0.text) })]))
        }
        if p.comment != nil { context.log("firewalld keeps no comment on a port or rich rule; the comment is not stored") }
        var after = state
        after.zone.apply(add: missing, remove: replaced)
        // An allow only adds or replaces a deny: it cannot cut anything off.
        if action != .allow {
            try await guardCheck(after, settings, context: context, force: p.force ?? false, what: spec.summary)
        }
        let running = await fw.running()
        let sets = replaced.map { $0.arguments(remove: true) } + missing.map { $0.arguments(remove: false) }
        if context.checkMode {
            let prefix = try fw.changePrefix(zone: state.zone.name, running: running)
            return JobOutcome(changed: true, summary: "check mode: would \(spec.summary) (zone \(state.zone.name))",
                              result: .object(["wouldRun": .array(sets.map { .array((prefix + $0).map(JSONValue.string)) })]))
        }
        try await fw.change(zone: state.zone.name, sets, running: running)
        let now = try fw.state()
        guard entries.allSatisfy(now.zone.has) else {
            throw JobFailure("firewalld: the change ran but \(entries.map(\.text).joined(separator: "; ")) is not in \(now.zone.path)")
        }
        return JobOutcome(changed: true, summary: "added: \(spec.summary) (zone \(state.zone.name)\(running ? ", reloaded" : ", offline"))",
                          result: .object(["entries": .array(entries.map { .string($0.text) }),
                                           "replaced": .array(replaced.map { .string($0.text) })]))
    }

    static func delete(_ p: DeleteHandler.Parameters, settings: FirewallSettings, context: JobContext) async throws -> JobOutcome {
        let base = p.rule.spec(.allow)
        _ = try base.firewalldEntries()  // outbound refused with firewalld's reason
        let fw = try FirewalldControl(settings, context)
        let state = try fw.state()
        let matching = base.firewalldMatches(in: state.zone, actions: p.action.map { [$0] })
        let what = String(base.summary.dropFirst(6))
        guard !matching.isEmpty else { return .unchanged("unchanged: no rule \(what) to delete") }
        var after = state
        after.zone.apply(add: [], remove: matching)
        try await guardCheck(after, settings, context: context, force: p.rule.force ?? false, what: "delete \(what)")
        let running = await fw.running()
        let sets = matching.map { $0.arguments(remove: true) }
        if context.checkMode {
            let prefix = try fw.changePrefix(zone: state.zone.name, running: running)
            return JobOutcome(changed: true, summary: "check mode: would delete \(matching.count) rule(s)",
                              result: .object(["rules": .array(matching.map { .string($0.text) }),
                                               "wouldRun": .array(sets.map { .array((prefix + $0).map(JSONValue.string)) })]))
        }
        try await fw.change(zone: state.zone.name, sets, running: running)
        let now = try fw.state()
        if matching.contains(where: { m in now.zone.rich.contains { $0.text == m.text } || now.zone.has(m) }) {
            throw JobFailure("firewalld: the delete ran but a matching rule is still in \(now.zone.path)")
        }
        return JobOutcome(changed: true, summary: "deleted \(matching.count) rule(s): \(what)",
                          result: .object(["rules": .array(matching.map { .string($0.text) })]))
    }

    /// `systemctl enable --now firewalld`, guarded; running and enabled at boot → unchanged.
    static func enable(force: Bool, settings: FirewallSettings, context: JobContext) async throws -> JobOutcome {
        let fw = try FirewalldControl(settings, context)
        let state = try fw.state()
        let live = await fw.running()
        let boot = await fw.enabledAtBoot()
        if live && boot != false { return .unchanged("unchanged: firewalld is already running") }
        try await guardCheck(state, settings, context: context, force: force, what: "enable the firewall")
        if context.checkMode {
            return JobOutcome(changed: true, summary: "check mode: would run systemctl enable --now firewalld (zone \(state.zone.name), \(state.zone.ruleCount) rules, target \(state.zone.target))")
        }
        try await fw.systemctl(["enable", "--now", "firewalld"])
        guard await fw.waitRunning(true) else {
            throw JobFailure("systemctl enable --now firewalld ran but firewall-cmd --state is not running")
        }
        return JobOutcome(changed: true, summary: "enabled firewalld (zone \(state.zone.name), \(state.zone.ruleCount) rules)")
    }

    /// `systemctl disable --now firewalld` (the permanent rules are kept).
    static func disable(settings: FirewallSettings, context: JobContext) async throws -> JobOutcome {
        let fw = try FirewalldControl(settings, context)
        let live = await fw.running()
        let boot = await fw.enabledAtBoot()
        if !live && boot != true { return .unchanged("unchanged: firewalld is already stopped") }
        if context.checkMode { return JobOutcome(changed: true, summary: "check mode: would run systemctl disable --now firewalld") }
        try await fw.systemctl(["disable", "--now", "firewalld"])
        guard await fw.waitRunning(false) else {
            throw JobFailure("systemctl disable --now firewalld ran but firewall-cmd --state is still running")
        }
        return JobOutcome(changed: true, summary: "disabled firewalld (rules kept)")
    }
}
