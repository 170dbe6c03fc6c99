import BalctlProtocol
import Foundation
import HTTPTypes

/// The member workspace's action forms (issue 19, second pass): host operations, restore and DR,
/// recipe run/disable, thresholds. Each calls exactly what the API does for the same request.
/// Destructive ones (updates install, reboot, restore, recipe disable) answer a POST without
/// `confirmed=1` with a confirmation page that says what will happen and repeats the form — the
/// no-JavaScript path; app.js's `data-confirm` dialog is only a shortcut in front of it.
extension MemberPage {
    static let hostOps: [(op: String, label: String, command: String, confirm: String?)] = [
        ("collect_facts", "Collect facts", "host.collect_facts", nil),
        ("updates_check", "Check for updates", "host.updates_check", nil),
        ("updates_install", "Install updates", "host.updates_install",
         "Install every pending update on this host now (apt-get/dnf, no questions asked). Services may restart."),
        ("reboot", "Reboot", "host.reboot", "Reboot this host 10 seconds after the agent takes the job. Its services stop until it is back."),
    ]

    /// Values the tabs with forms add to their template (on top of what `render` reads).
    func formValues(tab: String, values: [String: Any]) async throws -> [String: Any] {
        var v: [String: Any] = [:]
        switch tab {
        case "control":
            v["hostOps"] = Self.hostOps.map { ["op": $0.op, "label": $0.label, "command": $0.command,
                                               "confirmText": $0.confirm as Any] as [String: Any] }
            v["hostOpError"] = values["hostOpError"]
        case "restore":
            let members = try await store.listMembers(pool: nil, by: op)
            let chosen = values["to"] as? String
            v["targets"] = members.map { m -> [String: Any] in
                ["id": m.id, "hostname": m.hostname, "here": m.id == member.id,
                 "selected": chosen.map { $0 == String(m.id) } ?? (m.id == member.id)]
            }
            v["restoreError"] = values["restoreError"]
        case "recipes":
            let fits = try await store.applicableRecipes(Array(server.recipes.values), member: member.id, by: op)
            let typed = values["recipeForm"] as? [String: String] ?? [:]
            let failed = values["recipeID"] as? String
            v["recipeForms"] = fits.sorted { $0.id < $1.id }.map { r -> [String: Any] in
                ["id": r.id, "title": r.title, "description": r.description, "canDisable": !r.disable.isEmpty,
                 "error": (failed == r.id ? values["recipeError"] : nil) as Any,
                 "params": r.parameters.map { p -> [String: Any] in
                     ["name": p.name, "type": p.type.rawValue, "description": p.description ?? "",
                      "inputID": "r-\(r.id)-\(p.name)",
                      "value": failed == r.id ? typed["p.\(p.name)"] ?? "" : "",
                      "placeholder": p.defaultValue.map(Self.plain) ?? "(required)"]
                 }]
            }
        case "monitoring":
            let f = values["thresholdForm"] as? [String: String] ?? [:]
            let metric = f["metric"] ?? ThresholdMetric.cpu.rawValue
            v["metrics"] = ThresholdMetric.allCases.map { ["id": $0.rawValue, "selected": $0.rawValue == metric] as [String: Any] }
            v["thresholdForm"] = ["raiseAt": f["raiseAt"] ?? "", "clearAt": f["clearAt"] ?? "",
                                  "enabled": f.isEmpty || f["enabled"] == "1"] as [String: Any]
            v["thresholdError"] = values["thresholdError"]
        default:
            break
        }
        return v
    }

    /// The form actions this file handles; nil when `action` is not one of them.
    func postForm(action: String, form f: [String: String]) async throws -> (String, HTTPResponse.Status, String)? {
        switch action {
        case "hostop":
            let chosen = f["op"] ?? ""
            guard let hostOp = Self.hostOps.first(where: { $0.op == chosen }) else {
                throw ControlPlaneError.badRequest("no host operation '\(chosen.prefix(32))'")
            }
            if let text = hostOp.confirm, f["confirmed"] != "1" {
                return ("control", .ok, confirmPage(title: "\(hostOp.label) on \(member.hostname)?", formID: "confirm-hostop",
                                                    action: "hostop", fields: ["op": chosen], button: hostOp.label, back: "control",
                                                    changes: [("Command", hostOp.command), ("Member", member.hostname), ("What happens", text)]))
            }
            let params: JSONValue? = chosen == "reboot" ? .object(["confirm": .bool(true)]) : nil
            do {
                _ = try await store.enqueue(member: member.id, EnqueueJobRequest(command: hostOp.command, params: params),
                                            catalogue: server.catalogue, policy: server.config.queue, by: op)
            } catch let e as ControlPlaneError where e.kind == .badRequest || e.kind == .conflict {
                return ("control", .conflict, try await render(tab: "control", values: ["hostOpError": e.message]))
            }
            return ("jobs", .seeOther, "")
        case "restore-snapshot":
            let snapshot = f["snapshot"] ?? ""
            let to = Int64(f["to"] ?? "") ?? member.id
            let provision = f["provision"] == "1"
            do {
                let snap = try await server.backups.show(snapshot, by: op)
                let target = try await store.member(to, by: op)
                if f["confirmed"] != "1" {
                    let command = provision ? "standby.provision_from_backup" : "backup.restore"
                    return ("restore", .ok, confirmPage(
                        title: to == member.id ? "Restore \(member.hostname) from a snapshot?" : "Restore onto \(target.hostname) (disaster recovery)?",
                        formID: "confirm-restore", action: "restore-snapshot",
                        fields: ["snapshot": snapshot, "to": String(to), "provision": provision ? "1" : ""],
                        button: "Restore", back: "restore",
                        changes: [("Snapshot", "\(snap.id) (\(snap.scope), \(snap.memberHostname))"), ("Onto", target.hostname),
                                  ("Command", command),
                                  ("What happens", "The snapshot's files overwrite those on \(target.hostname)\(provision ? " after the stack is installed there" : "").")]))
                }
                _ = try await server.backups.restore(snapshot, SnapshotRestoreRequest(to: to, provision: provision), server: server, by: op)
                throw DashboardRedirect(location: "/pools/\(target.poolId)/members/\(target.id)/jobs")
            } catch let e as ControlPlaneError where e.kind != .forbidden {
                return ("restore", e.kind == .notFound ? .notFound : .conflict,
                        try await render(tab: "restore", values: ["restoreError": e.message, "to": String(to)]))
            }
        case "recipe":
            let id = f["recipe"] ?? ""
            let disable = f["mode"] == "disable"
            guard let recipe = server.recipes[id] else { throw ControlPlaneError.notFound("no recipe '\(id.prefix(64))'") }
            do {
                let pairs = recipe.parameters.compactMap { p -> String? in
                    guard let text = f["p.\(p.name)"]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
                    return "\(p.name)=\(text)"
                }
                let params: [String: JSONValue]
                do { params = try recipe.parameterValues(fromPairs: pairs) } catch let e as ParameterError {
                    throw ControlPlaneError.badRequest(e.description.replacingOccurrences(of: "--param ", with: ""))
                }
                if disable, f["confirmed"] != "1" {
                    var fields = ["recipe": id, "mode": "disable"]
                    for p in recipe.parameters { if let t = f["p.\(p.name)"], !t.isEmpty { fields["p.\(p.name)"] = t } }
                    return ("recipes", .ok, confirmPage(
                        title: "Disable \(recipe.title) on \(member.hostname)?", formID: "confirm-recipe", action: "recipe", fields: fields,
                        button: "Disable", back: "recipes",
                        changes: [("Recipe", recipe.id), ("Steps", recipe.disable.map(\.run).joined(separator: ", ")),
                                  ("Parameters", params.isEmpty ? "those of the last enable run" : params.keys.sorted().joined(separator: ", "))]))
                }
                _ = try await store.startRecipe(recipe, disable: disable, member: member.id, params: params,
                                                catalogue: server.catalogue, policy: server.config.queue, by: op)
                return ("recipes", .seeOther, "")
            } catch let e as ControlPlaneError where e.kind == .badRequest || e.kind == .conflict {
                return ("recipes", .badRequest, try await render(tab: "recipes", values: ["recipeID": id, "recipeError": e.message, "recipeForm": f]))
            }
        case "threshold":
            do {
                guard let metric = ThresholdMetric(rawValue: f["metric"] ?? "") else { throw ControlPlaneError.badRequest("choose a metric") }
                guard let raise = Double(f["raiseAt"] ?? "") else { throw ControlPlaneError.badRequest("'raise at' must be a number") }
                let clearText = (f["clearAt"] ?? "").trimmingCharacters(in: .whitespaces)
                guard clearText.isEmpty || Double(clearText) != nil else { throw ControlPlaneError.badRequest("'clear at' must be a number or empty") }
                _ = try await store.setThreshold(member: member.id, metric, SetThresholdRequest(
                    raiseAt: raise, clearAt: Double(clearText), enabled: f["enabled"] == "1"), by: op)
                return ("monitoring", .seeOther, "")
            } catch let e as ControlPlaneError where e.kind == .badRequest {
                return ("monitoring", .badRequest, try await render(tab: "monitoring", values: ["thresholdError": e.message, "thresholdForm": f]))
            }
        default:
            return nil
        }
    }

    func confirmPage(title: String, formID: String, action: String, fields: [String: String], button: String, back: String,
                     changes: [(String, String)]) -> String {
        ui.render("confirmAction", [
            "title": title, "formID": formID, "action": "/pools/\(pool.id)/members/\(member.id)/\(action)", "csrf": session.csrf,
            "fields": fields.sorted { $0.key < $1.key }.map { ["name": $0.key, "value": $0.value] },
            "changes": changes.map { ["k": $0.0, "v": $0.1] }, "button": button,
            "back": "/pools/\(pool.id)/members/\(member.id)/\(back)",
        ])
    }

    /// A JSON value as a person types it (a string without quotes).
    static func plain(_ v: JSONValue) -> String {
        switch v {
        case .string(let s): s
        case .number(let n): n == n.rounded() && abs(n) < 1e15 ? String(Int64(n)) : String(n)
        case .bool(let b): b ? "true" : "false"
        case .null: ""
        default: DashboardPieces.encode(v)
        }
    }
}
