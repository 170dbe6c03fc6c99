import AgentKernel
import BackupPlugin
import BalctlProtocol

/// `ols.vhost_restore`: bring one virtual host back from an `openlitespeed` snapshot (taken with
/// `ols.backup` here or on another member of the account) without touching the other sites: the
/// snapshot is verified and staged, the vhost's root files are swapped in (previous files kept),
/// then its config block, vhconf and listener maps go through `OLSEditor` (checked, written,
/// read back, reloaded). Any failure puts the previous files and config back. Re-running it
/// reports "unchanged"; check mode shows the config diff and which files would change.
public struct VHostRestoreHandler: CommandHandler {
    public struct Parameters: CommandParameters {
        public var snapshot: String
        public var vhost: String
        /// Keep setuid/setgid bits in the restored files (stripped by default).
        public var keepSetuid: Bool?

        public func validate() throws {
            try SnapshotStaging.checkSnapshotID(snapshot)
            try OLSNames.checkVHost(vhost, field: "vhost")
        }
    }

    public let settings: OLSSettings
    public let backup: SnapshotStaging
    public init(settings: OLSSettings = .fromEnvironment(), backup: SnapshotStaging = SnapshotStaging()) {
        self.settings = settings
        self.backup = backup
    }

    public static let id = "ols.vhost_restore"
    public static let summary = "Restore one OpenLiteSpeed virtual host (config, listener maps, root files) from a snapshot; other sites untouched"
    public static let parameterHelp = "snapshot: id of an openlitespeed snapshot (required); vhost: its name (required); keepSetuid: bool"
    public static let exampleParameters: JSONValue = .object(["snapshot": .string("0123456789abcdef0123456789abcdef"), "vhost": .string("shop")])
    public static let requiresRoot = true
    public static let lock: String? = "openlitespeed"
    public static let snapshotUse: SnapshotUse? = .restores
    public static let supportsCheckMode = true

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        guard settings.installed else { throw JobFailure("OpenLiteSpeed is not installed here (BALCTL_OLS_ROOT=\(settings.serverRoot)): provision it first") }
        let info = try await backup.info(snapshot: p.snapshot, scope: "openlitespeed", in: context)
        let staged = try await backup.stage(info, keepSetuid: p.keepSetuid ?? false, in: context)
        defer { staged.remove() }
        let plan = try OLSVHostRestorePlan.make(name: p.vhost, staged: staged, live: try OLSServerModel.load(settings), settings: settings)
        for l in plan.missingListeners { context.log("the snapshot maps \(p.vhost) on listener '\(l)', which this member does not have") }
        if !plan.hasFiles { context.log("the snapshot holds no files under \(plan.vhRoot) (it did not exist or was not a web directory when the snapshot was taken)") }
        let from = staged.label

        if context.checkMode {
            let files: (isEmpty: Bool, summary: String, json: JSONValue) = plan.hasFiles
                ? try await backup.diff(info, under: plan.vhRoot, in: context) : (true, "none in the snapshot", .null)
            let config = try await OLSEditor(settings: settings).apply(plan.change, in: context, verify: { _ in nil })
            let changed = config.changed || !files.isEmpty
            return JobOutcome(changed: changed,
                              summary: "check mode: \(from): \(p.vhost): config \(config.changed ? "would change" : "unchanged"); files under \(plan.vhRoot): \(files.summary)",
                              result: result(plan, info, extra: ["diff": .string(config.diff), "files": files.json]))
        }

        let swap = plan.hasFiles ? try await staged.swapIn(plan.vhRoot, jobID: context.jobID) : nil
        let name = p.vhost, vhRoot = plan.vhRoot, domains = Set(plan.domains.map { $0.lowercased() })
        let editor = OLSEditor(settings: settings)
        var applied: OLSEditor.Applied
        do {
            applied = try await editor.apply(plan.change, in: context) { m in
                guard let vh = m.vhost(name) else { return "virtual host \(name) is not in the config" }
                guard OLSBackupScope.trimmed(vh.vhRoot) == vhRoot else { return "\(name)'s root is \(vh.vhRoot), not \(vhRoot)" }
                guard Set(vh.domains.map { $0.lowercased() }).isSuperset(of: domains) else { return "\(name) is not mapped to every domain" }
                return Files.exists(vh.configFile) ? nil : "\(vh.configFile) is missing"
            }
            // A vhconf inside the root came with the files: the server config may be unchanged,
            // yet OLS must test and load the new vhconf.
            if plan.configInRoot, swap?.changed == true, !applied.changed {
                applied = try await reloadForRestoredVHostConfig(in: context)
            }
        } catch {
            let left = swap?.rollBack() ?? []
            // A restored vhconf inside the root may have been loaded: load the previous one again.
            if plan.configInRoot, swap?.changed == true, OLSControl(settings: settings).runningPID() != nil {
                _ = try? await OLSControl(settings: settings).cycle("reload", in: context)
            }
            throw JobFailure("\(from): restoring \(name) failed: \(error); its previous files under \(vhRoot) were put back\(left.isEmpty ? "" : " except: " + left.joined(separator: ", "))",
                             result: (error as? JobFailure)?.result)
        }
        for left in swap?.commit() ?? [] { context.log("left in place: \(left)") }

        let filesNote = swap.map { "\($0.replaced) replaced, \($0.created) created, \($0.unchanged) unchanged under \(vhRoot)" } ?? "no files in the snapshot"
        var extra: [String: JSONValue] = ["diff": .string(applied.diff)]
        if let swap { extra["files"] = .object(["replaced": .number(Double(swap.replaced)), "created": .number(Double(swap.created)), "unchanged": .number(Double(swap.unchanged))]) }
        guard applied.changed || swap?.changed == true else {
            return .unchanged("\(from): \(name) already matches the snapshot (config and \(filesNote))", result: result(plan, info, extra: extra))
        }
        return JobOutcome(changed: true, summary: "\(from): restored \(name): config \(applied.changed ? "restored; \(applied.note)" : "unchanged"); files: \(filesNote)",
                          result: result(plan, info, extra: extra))
    }

    /// The structural test and `lshttpd -t` of the installed files, then a graceful reload.
    private func reloadForRestoredVHostConfig(in context: JobContext) async throws -> OLSEditor.Applied {
        let check = try await OLSCheck.run(settings, in: context)
        guard check.valid else { throw check.failure("the restored vhconf is not loaded") }
        let control = OLSControl(settings: settings)
        guard control.runningPID() != nil else { return .init(changed: true, diff: "", note: "OpenLiteSpeed is not running; the restored vhconf applies when it starts") }
        do {
            let (before, after) = try await control.cycle("reload", in: context)
            return .init(changed: true, diff: "", note: "reloaded gracefully for the restored vhconf (pid \(before.map(String.init) ?? "?") → \(after))")
        } catch {
            throw JobFailure("reloading for the restored vhconf failed: \(error)")
        }
    }

    private func result(_ plan: OLSVHostRestorePlan, _ info: SnapshotView, extra: [String: JSONValue]) -> JSONValue {
        var o: [String: JSONValue] = [
            "snapshot": .string(info.id), "member": .string(info.memberHostname), "vhost": .string(plan.name),
            "vhRoot": .string(plan.vhRoot), "configFile": .string(plan.configFile),
            "domains": .array(plan.domains.map(JSONValue.string)), "listeners": .array(plan.listeners.map(JSONValue.string)),
            "missingListeners": .array(plan.missingListeners.map(JSONValue.string)),
        ]
        for (k, v) in extra { o[k] = v }
        return .object(o)
    }
}
