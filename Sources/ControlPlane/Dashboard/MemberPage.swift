import BalctlProtocol
import Foundation
import HTTPTypes

/// The member workspace: one tab per docs section, each filled from what the store has; the
/// forms call the same Store operations as the API.
struct MemberPage {
    let server: ControlPlane
    let session: WebSession
    let pool: PoolView
    let member: MemberView
    var store: Store { server.store }
    var ui: DashboardState { server.dashboard }
    var op: Operator { session.op }

    static let tabs: [(String, String)] = [
        ("control", "Control panel"), ("security", "Security"), ("status", "Status"), ("jobs", "Cron & Jobs"),
        ("restore", "Restore Backups"), ("recipes", "Recipes"), ("monitoring", "Monitoring"), ("settings", "Settings"),
    ]

    /// Stacks shown on a fixed tab (Security: firewall, SSH; Status: HAProxy — the docs keep a
    /// dedicated HAProxy tab hidden) get no stack tab of their own.
    static let stacksOnFixedTabs: Set<String> = ["firewall", "ssh", "haproxy"]
    static let stackTabPrefix = "stack-"

    /// The member's stack tabs ("each member's tabs reflect its OS"): one per stack its latest
    /// heartbeat reports, in name order. Only names that are safe as a URL path segment and short
    /// get a tab (the names come from the agent), at most 16 of them.
    static func stackTabs(_ report: HostReport?) -> [String] {
        let tabs = (report?.stacks.keys.sorted() ?? []).filter { name in
            !stacksOnFixedTabs.contains(name) && (1...32).contains(name.utf8.count)
                && name.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5F || $0 == 0x2D }
        }
        return Array(tabs.prefix(16))
    }

    func render(tab: String, values: [String: Any] = [:], notice: String? = nil) async throws -> String {
        let isStackTab = tab.hasPrefix(Self.stackTabPrefix)
        guard isStackTab || Self.tabs.contains(where: { $0.0 == tab }) else { throw ControlPlaneError.notFound("no tab '\(tab.prefix(32))'") }
        var v: [String: Any] = ["poolID": pool.id, "memberID": member.id, "csrf": session.csrf]
        let report = try await store.latestReport(member: member.id, by: op)
        let stackTabs = Self.stackTabs(report?.report)
        if isStackTab {
            let name = String(tab.dropFirst(Self.stackTabPrefix.count))
            guard stackTabs.contains(name), let entry = report?.report.stacks[name] else {
                throw ControlPlaneError.notFound("this member reports no stack '\(name.prefix(32))'")
            }
            v.merge(try await stackTabValues(name, entry, receivedAt: report!.receivedAt)) { $1 }
        }
        switch isStackTab ? "stack" : tab {
        case "stack":
            break
        case "control":
            var facts: [[String: Any]] = []
            if let r = report?.report {
                // Every fact is the agent's text or number: clipped, and numbers turned into text
                // without `Int(_:)`, which traps out of range (`uptimeSec: 1e300` stopped the
                // server, red team S6). The stack names: the first 32, and how many in all (S5).
                let names = r.stacks.keys.sorted()
                let stacks = StackReadout.clip(names.prefix(32).map { StackReadout.clip($0, 32) }.joined(separator: ", "),
                                               StackReadout.maxValueLength) + (names.count > 32 ? ", … (\(names.count) in all)" : "")
                facts = [("Hostname", r.hostname), ("OS", r.os.prettyName), ("Kernel", r.os.kernel), ("Agent", r.agentVersion),
                         ("Uptime", "\(StackReadout.number((r.uptimeSec / 3600).rounded(.towardZero))) h"),
                         ("Load", r.load.prefix(3).map { String(format: "%.2f", $0) }.joined(separator: " ")),
                         ("CPUs", "\(r.cpuCount)"), ("Public IPv4", r.publicIPv4 ?? "–"), ("Source IP", report!.sourceIP),
                         ("Stacks", stacks)].map { ["k": $0.0, "v": StackReadout.clip($0.1, 2 * StackReadout.maxValueLength)] }
            }
            v["facts"] = facts
            // What a plugin said about itself when it stayed hidden (its stack is absent here).
            let hidden = (report?.report.hiddenStacks ?? [:]).sorted { $0.key < $1.key }.prefix(32).map {
                // Clipped by scalars: `prefix(32)` counted Characters, and one can be 400 KB (S3).
                ["name": StackReadout.clip($0.key, 32), "reason": StackReadout.clip($0.value)]
            }
            v["hiddenStacks"] = hidden
            v["hasHiddenStacks"] = !hidden.isEmpty
        case "security", "status":
            if tab == "security" {
                v["heading"] = "Firewall and SSH"
                // The same bounded readout as the stack tabs: the entries are the agent's (a
                // pretty-printed 500 KB firewall entry made a page over 200 KB).
                v["stacks"] = ["firewall", "ssh"].compactMap { name -> [String: Any]? in
                    guard let s = report?.report.stacks[name] else { return nil }
                    let (rows, omitted) = StackReadout.rows(s)
                    return ["name": name, "rows": rows.map { ["k": $0.key, "v": $0.value] }, "omitted": (omitted > 0 ? omitted : nil) as Any]
                }
            } else {
                let servers = Self.haproxyServers(report?.report.stacks["haproxy"])
                v["capped"] = (servers.count == Self.maxServerRows ? Self.maxServerRows : nil) as Any
                v["rows"] = servers.map { row -> [String: Any] in
                    var r = row
                    r["poolID"] = pool.id; r["memberID"] = member.id; r["csrf"] = session.csrf
                    return r
                }
            }
        case "jobs":
            let chosen = values["command"] as? String ?? "host.echo"
            v["commands"] = server.catalogue.infos.map { ["id": $0.id, "selected": $0.id == chosen] as [String: Any] }
            v["params"] = values["params"] ?? ""
            v["paramsError"] = values["paramsError"]
            v["commandError"] = values["commandError"]
            v["schedules"] = try await store.listSchedules(member: member.id, by: op).map {
                ["name": $0.name, "cron": $0.cron, "what": $0.command ?? $0.recipe ?? "", "enabled": $0.enabled ? "on" : "off"] as [String: Any]
            }
            v["jobs"] = try await store.listJobs(member: member.id, pool: nil, limit: 50, by: op).map { ["html": Self.jobRow($0, ui)] }
        case "restore":
            v["unavailable"] = server.backups.unavailableReason
            let snapshots = (try? await server.backups.list(member: member.id, by: op)) ?? []
            v["hasSnapshots"] = snapshots.contains { $0.state == "complete" }
            v["snapshots"] = snapshots.map {
                ["id": $0.id, "scope": $0.scope, "state": $0.state, "bytes": Self.bytes($0.bytes), "created": WebTime.fields($0.createdAt) as Any] as [String: Any]
            }
        case "recipes":
            let fits = try await store.applicableRecipes(Array(server.recipes.values), member: member.id, by: op)
            v["recipes"] = fits.sorted { $0.id < $1.id }.map { ["id": $0.id, "title": $0.title, "description": $0.description] }
            v["runs"] = try await store.listRecipeRuns(member: member.id, limit: 20, by: op).map {
                ["id": $0.id, "recipeId": $0.recipeId, "mode": $0.mode, "state": $0.state.rawValue, "error": $0.error ?? ""] as [String: Any]
            }
        case "monitoring":
            let t = try await store.thresholds(member: member.id, by: op)
            v["thresholds"] = (t.effective ?? t.own.map { EffectiveThreshold(setting: $0, source: "member") }).map {
                ["metric": $0.setting.metric.rawValue, "raiseAt": $0.setting.raiseAt, "clearAt": $0.setting.clearAt, "source": $0.source] as [String: Any]
            }
        default:  // settings
            let geo = try await store.memberLocation(member.id, by: op)
            v["form"] = values["form"] ?? ["hostname": member.hostname, "allowedIPs": member.allowedIPs.joined(separator: ", "),
                                            "lat": geo.map { String($0.lat) } ?? "", "lon": geo.map { String($0.lon) } ?? ""]
            for k in ["hostnameError", "allowedError", "geoError", "installCommand"] { v[k] = values[k] }
        }
        v.merge(try await formValues(tab: tab, values: values)) { $1 }
        let tabHTML = ui.render(isStackTab ? "tabStackReadout" : Self.template(tab), v)
        // Stack tabs sit after Status, where the docs put the per-stack workspaces.
        var tabs = Self.tabs
        let at = (tabs.firstIndex { $0.0 == "status" } ?? 0) + 1
        tabs.insert(contentsOf: stackTabs.map { (Self.stackTabPrefix + $0, StackReadout.label($0)) }, at: at)
        return ui.render("memberFrame", [
            "poolID": pool.id, "poolName": pool.name, "memberID": member.id, "member": ["hostname": member.hostname],
            "notice": notice as Any, "tab": tabHTML,
            "tabs": tabs.map { ["key": $0.0, "label": $0.1, "current": $0.0 == tab] as [String: Any] },
        ])
    }

    /// A stack tab: what the plugin reported, its commands (each a link to the job form with the
    /// command chosen), and for Galera the pool's view of the cluster this node is in.
    func stackTabValues(_ name: String, _ entry: JSONValue, receivedAt: Double) async throws -> [String: Any] {
        let (rows, omitted) = StackReadout.rows(entry)
        let commands = server.catalogue.infos.filter { $0.stack == name }
        var v: [String: Any] = [
            "hasStackCommands": !commands.isEmpty, "stackName": name, "stackLabel": StackReadout.label(name), "received": WebTime.fields(receivedAt) as Any,
            "rows": rows.map { ["k": $0.key, "v": $0.value] }, "omitted": (omitted > 0 ? omitted : nil) as Any,
            "stackCommands": commands.map {
                ["id": $0.id, "summary": $0.summary, "parameters": $0.parameters] as [String: Any]
            },
        ]
        if name == "galera" {
            let view = try await store.poolClusters(pool.id, by: op)
            let mine = view.galera.filter { $0.nodes.contains { $0.memberId == member.id } }
            v["clusterView"] = OverviewPage.clusterView(PoolClustersView(poolId: view.poolId, galera: mine, warnings: view.warnings), ui)
        }
        return v
    }

    static func template(_ tab: String) -> String {
        switch tab {
        case "control": "tabControl"
        case "security": "tabStack"
        case "status": "tabStatus"
        case "jobs": "tabJobs"
        case "restore": "tabRestore"
        case "recipes": "tabRecipes"
        case "monitoring": "tabMonitoring"
        default: "tabSettings"
        }
    }

    /// A POST on the workspace: (tab, status, page). 303 on success; the tab re-rendered with
    /// the typed values and the reason beside the field when refused.
    func post(action: String, form f: [String: String]) async throws -> (String, HTTPResponse.Status, String) {
        switch action {
        case "jobs":
            let command = f["command"] ?? ""
            let raw = (f["params"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            var values: [String: Any] = ["command": command, "params": f["params"] ?? ""]
            do {
                var params: JSONValue? = nil
                if !raw.isEmpty {
                    do { params = try JSONTree.decode(JSONValue.self, from: raw) } catch {
                        throw FieldError(field: "paramsError", message: "not valid JSON: \(error)")
                    }
                    guard case .object = params! else { throw FieldError(field: "paramsError", message: "must be a JSON object ({…})") }
                }
                _ = try await store.enqueue(member: member.id, EnqueueJobRequest(command: command, params: params),
                                            catalogue: server.catalogue, policy: server.config.queue, by: op)
                return ("jobs", .seeOther, "")
            } catch let e as FieldError {
                values[e.field] = e.message
            } catch let e as ControlPlaneError where e.kind == .badRequest || e.kind == .conflict {
                values[e.message.contains("command") && !e.message.contains("param") ? "commandError" : "paramsError"] = e.message
            }
            return ("jobs", .badRequest, try await render(tab: "jobs", values: values))
        case "haproxy":
            let act = f["action"] ?? ""
            guard ["drain", "ready", "maint"].contains(act) else { throw ControlPlaneError.badRequest("action must be drain, ready or maint") }
            _ = try await store.enqueue(member: member.id, EnqueueJobRequest(
                command: "haproxy.server_\(act)", params: .object(["backend": .string(f["backend"] ?? ""), "server": .string(f["server"] ?? "")])),
                catalogue: server.catalogue, policy: server.config.queue, by: op)
            return ("status", .seeOther, "")
        case "settings":
            let hostname = (f["hostname"] ?? "").trimmingCharacters(in: .whitespaces)
            let ips = (f["allowedIPs"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            do {
                _ = try await store.updateMember(member.id, UpdateMemberRequest(hostname: hostname == member.hostname ? nil : hostname,
                                                                                allowedIPs: ips), by: op)
                return ("settings", .seeOther, "")
            } catch let e as ControlPlaneError where e.kind == .badRequest || e.kind == .conflict {
                let field = e.message.contains("IP") ? "allowedError" : "hostnameError"
                return ("settings", .badRequest, try await render(tab: "settings", values: [
                    field: e.message, "form": ["hostname": f["hostname"] ?? "", "allowedIPs": f["allowedIPs"] ?? "", "lat": "", "lon": ""]]))
            }
        case "geo":
            let lat = Double(f["lat"] ?? ""), lon = Double(f["lon"] ?? "")
            do {
                guard let lat, let lon else { throw ControlPlaneError.badRequest("latitude and longitude must be numbers (e.g. 52.37, 4.90)") }
                try await store.setMemberLocation(member.id, lat: lat, lon: lon, by: op)
                return ("settings", .seeOther, "")
            } catch let e as ControlPlaneError where e.kind == .badRequest {
                return ("settings", .badRequest, try await render(tab: "settings", values: [
                    "geoError": e.message, "form": ["hostname": member.hostname, "allowedIPs": member.allowedIPs.joined(separator: ", "),
                                                    "lat": f["lat"] ?? "", "lon": f["lon"] ?? ""]]))
            }
        case "rotate-secret":
            let e = try await store.rotateSecret(member.id, install: server.installContext, by: op)
            // Shown in this answer only (never stored in clear, never in a URL).
            return ("settings", .ok, try await render(tab: "settings", values: ["installCommand": e.installCommand],
                                                      notice: "Secret rotated: reinstall the agent with the command below."))
        case "remove":
            try await store.removeMember(member.id, by: op)
            throw DashboardRedirect(location: "/pools/\(pool.id)")
        default:
            guard let answer = try await postForm(action: action, form: f) else { throw ControlPlaneError.notFound("no such action") }
            return answer
        }
    }

    struct FieldError: Error { let field: String; let message: String }

    static func jobRow(_ j: JobView, _ ui: DashboardState) -> String {
        // A finished job shows how it ended, not the last progress its agent sent ("67 % waiting").
        let progress = j.state.isTerminal
            ? (j.error ?? (j.state == .completed ? (j.changed == false ? "done (unchanged)" : "done") : ""))
            : j.progressPercent.map { String(format: "%.0f %%", $0) + (j.progressMessage.map { " " + $0 } ?? "") }
                ?? j.progressMessage ?? ""
        return ui.render("jobRow", ["id": j.id, "memberId": j.memberId, "command": j.command, "state": j.state.rawValue,
                                    "progress": progress, "created": WebTime.fields(j.createdAt) as Any,
                                    "finished": WebTime.fields(j.finishedAt) as Any])
    }

    /// The Status tab shows at most this many servers, each cell at most 100 characters: the
    /// table is the agent's, and a 512 KB report could otherwise make a page of megabytes.
    static let maxServerRows = 150

    /// Server rows (type 2) of the heartbeat's `show stat` table, at most `maxServerRows`.
    static func haproxyServers(_ stack: JSONValue?) -> [[String: Any]] {
        guard case .object(let h)? = stack, case .object(let stats)? = h["stats"], case .array(let cols)? = stats["columns"],
              case .array(let rows)? = stats["rows"] else { return [] }
        let names = cols.map { if case .string(let s) = $0 { s } else { "" } }
        func cell(_ row: [JSONValue], _ name: String) -> String {
            guard let i = names.firstIndex(of: name), i < row.count else { return "" }
            switch row[i] {
            case .string(let s): return StackReadout.clip(s, 100)
            // `Int(n)` traps out of range: a cell of 1e300 stopped the server from this tab and
            // from the live poller (red team S6).
            case .number(let n): return StackReadout.number(n)
            default: return ""
            }
        }
        var out: [[String: Any]] = []
        for r in rows where out.count < maxServerRows {
            guard case .array(let row) = r, cell(row, "type") == "2" else { continue }
            out.append(["backend": cell(row, "pxname"), "server": cell(row, "svname"), "status": cell(row, "status"),
                        "scur": cell(row, "scur"), "check": cell(row, "check_status")])
        }
        return out
    }

    static func bytes(_ n: Int64) -> String {
        n >= 1 << 30 ? String(format: "%.1f GiB", Double(n) / Double(1 << 30))
            : n >= 1 << 20 ? String(format: "%.1f MiB", Double(n) / Double(1 << 20)) : "\(n / 1024) KiB"
    }
}
