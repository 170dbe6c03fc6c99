import ArgumentParser
import BalctlProtocol
import Foundation
import OperatorClient

/// Dashboard users (issue 19): web sign-ins that see what their account's API tokens see.
struct Users: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Dashboard users: add, list, remove.",
        discussion: "A user belongs to the calling token's account (an admin token may pass --account). Passwords: 12 to 72 bytes.",
        subcommands: [Add.self, List.self, Remove.self], defaultSubcommand: List.self)

    struct Add: ParsableCommand {
        @OptionGroup var global: Global
        @Argument(help: "Username (the same rule as account names).") var name: String
        @Flag(help: "Read the password from standard input (one line) instead of prompting.") var passwordStdin = false
        @Option(help: "Admin tokens: create the user in this account.") var account: Int64?
        func run() throws {
            let password: String
            do {
                password = passwordStdin ? try PasswordInput.readStdin() : try PasswordInput.prompt(for: name)
            } catch let r as PasswordInput.Refused {
                throw ValidationError(r.description)
            }
            try perform {
                let u: WebUserView = try global.client().send("POST", APIPath("users"),
                                                              CreateWebUserRequest(username: name, password: password, account: account))
                try global.output(u) { "created user '\(u.username)' (id \(u.id)) in account \(u.accountId)" }
            }
        }
    }

    struct List: ParsableCommand {
        @OptionGroup var global: Global
        func run() throws {
            try perform {
                let users: [WebUserView] = try global.client().get(APIPath("users"))
                try global.output(users) {
                    Render.table(["ID", "USERNAME", "ACCOUNT", "CREATED"], users.map {
                        ["\($0.id)", $0.username, "\($0.accountId)", Render.dateTime($0.createdAt)]
                    })
                }
            }
        }
    }

    struct Remove: ParsableCommand {
        @OptionGroup var global: Global
        @Argument var name: String
        func run() throws {
            try perform {
                try global.client().delete(APIPath("users", name))
                try global.output(["removed": name]) { "removed user '\(name)' and ended its sessions" }
            }
        }
    }
}
