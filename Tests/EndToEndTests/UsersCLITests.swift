import BalctlProtocol
import Foundation
import TestSupport
import Testing

/// `balctl users add|list|remove` against a real server (issue 19), and signing in with the
/// password it set.
@Suite(.serialized)
struct UsersCLITests {
    @Test("users add --password-stdin, list, sign-in with it, remove; refusals exit 1 with the reason")
    func addListRemove() async throws {
        let h = try Harness()
        h.serverEnv["BALCTL_BCRYPT_COST"] = "4"
        try await h.startServer()
        let conn = ["--server", h.base, "--token", h.adminToken, "--ca-file", h.tls.caCert]
        // `echo` adds a newline: not part of the password.
        let add = try await Harness.cli(["users", "add", "operator-1", "--password-stdin"] + conn, stdin: "a long enough secret\n")
        #expect(add.status == 0, "\(add.stderr)")
        #expect(add.stdout.contains("created user 'operator-1'"), "\(add.stdout)")
        let list = try await Harness.cli(["users", "list", "--json"] + conn)
        #expect(list.status == 0, "\(list.stderr)")
        let users = try JSONDecoder().decode([WebUserView].self, from: Data(list.stdout.utf8))
        #expect(Set(users.map(\.username)) == ["admin", "operator-1"])
        // The password is the one piped in: sign-in answers 303 with a session cookie.
        let session = try h.session()
        let form = "username=operator-1&password=a+long+enough+secret&next=%2Fpools"
        let signIn = try await session.request("POST", h.base + "/signin", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                                               body: Array(form.utf8))
        #expect(signIn.status == 303, "\(signIn.status)")
        // Refused: a short password (server's reason), a duplicate, no --password-stdin on a pipe.
        let short = try await Harness.cli(["users", "add", "operator-2", "--password-stdin"] + conn, stdin: "short\n")
        #expect(short.status == 1 && short.stderr.contains("at least 12 characters"), "\(short.stderr)")
        let dup = try await Harness.cli(["users", "add", "operator-1", "--password-stdin"] + conn, stdin: "a long enough secret\n")
        #expect(dup.status == 1 && dup.stderr.contains("exists"), "\(dup.stderr)")
        let noTTY = try await Harness.cli(["users", "add", "operator-3"] + conn, stdin: "a long enough secret\n")
        #expect(noTTY.status != 0 && noTTY.stderr.contains("--password-stdin"), "\(noTTY.stderr)")
        let remove = try await Harness.cli(["users", "remove", "operator-1"] + conn)
        #expect(remove.status == 0, "\(remove.stderr)")
        let gone = try await Harness.cli(["users", "remove", "operator-1"] + conn)
        #expect(gone.status == 1 && gone.stderr.contains("HTTP 404"), "\(gone.stderr)")
        let after = try await Harness.cli(["users", "list", "--json"] + conn)
        #expect(try JSONDecoder().decode([WebUserView].self, from: Data(after.stdout.utf8)).map(\.username) == ["admin"])
    }
}
