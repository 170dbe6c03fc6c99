import BalctlProtocol
import Synchronization
import Testing

@Suite("AgentVersion")
struct AgentVersionTests {
    func v(_ s: String) -> AgentVersion { AgentVersion(s)! }

    @Test("parts are compared numerically, not as text")
    func numericOrder() {
        #expect(v("1.2.10") > v("1.2.9"))
        #expect(v("1.10.0") > v("1.9.99"))
        #expect(v("2.0") > v("1.99.99"))
        #expect(v("0.1.0") < v("0.1.1"))
        #expect(!(v("1.2.3") < v("1.2.3")))
        let sorted = ["1.2.10", "1.2.9", "0.9", "1.2", "10.0.0", "1.2.9.1"].map(v).sorted()
        #expect(sorted.map(\.description) == ["0.9", "1.2", "1.2.9", "1.2.9.1", "1.2.10", "10.0.0"])
    }

    @Test("missing trailing parts count as zero: 1.0 == 1.0.0, with equal hashes")
    func trailingZeros() {
        #expect(v("1.0") == v("1.0.0"))
        #expect(v("1") == v("1.0.0.0"))
        #expect(v("1.0.1") != v("1.0"))
        #expect(v("1.0.1") > v("1.0"))
        #expect(Set([v("1.0"), v("1.0.0"), v("1")]).count == 1)
        #expect(Set([v("1.0"), v("1.0.1")]).count == 2)
        #expect(v("1.0").description == "1.0")
    }

    @Test("malformed versions are refused",
          arguments: ["", ".", "1.", ".1", "1..2", "v1.2", "1.2a", "1.-2", "-1", "+1.2", " 1.2", "1.2 ",
                      "1.2.3.4.5", "1234567890", "1,2", "１.2"])
    func malformed(_ text: String) {
        #expect(AgentVersion(text) == nil, "\(text.debugDescription) must be refused")
    }

    @Test("up to four parts of up to nine digits are accepted")
    func limits() {
        #expect(AgentVersion("1.2.3.4")?.parts == [1, 2, 3, 4])
        #expect(AgentVersion("123456789")?.parts == [123_456_789])
        #expect(AgentVersion(BalctlVersion.current) != nil)
    }
}

@Suite("CommandID and CommandCatalogue")
struct CatalogueTests {
    @Test("well-formed command IDs", arguments: [
        "host.echo", "haproxy.server_drain", "host.collect_facts", "mariadb.backup2", "a.b",
    ])
    func wellFormed(_ id: String) {
        #expect(CommandID.isWellFormed(id))
    }

    @Test("malformed command IDs", arguments: [
        "", "host", "host.", ".echo", "host.echo.now", "Host.echo", "host.Echo", "host._echo",
        "host.1echo", "2host.echo", "host.ech-o", "host.ech o", "höst.echo", "host..echo",
        "host.echo ",
    ])
    func malformed(_ id: String) {
        #expect(!CommandID.isWellFormed(id))
    }

    @Test("the 64-byte limit is inclusive")
    func lengthLimit() {
        let at64 = "host." + String(repeating: "a", count: 59)
        let at65 = "host." + String(repeating: "a", count: 60)
        #expect(at64.utf8.count == 64 && CommandID.isWellFormed(at64))
        #expect(at65.utf8.count == 65 && !CommandID.isWellFormed(at65))
    }

    /// Records which validators ran, so a refusal can be shown to happen before the validator.
    final class Calls: Sendable {
        let seen = Mutex<[String]>([])
        func add(_ s: String) { seen.withLock { $0.append(s) } }
        var all: [String] { seen.withLock { $0 } }
    }

    func catalogue(_ calls: Calls) -> CommandCatalogue {
        func info(_ id: String, check: Bool) -> CommandInfo {
            CommandInfo(id: id, stack: "test", summary: id, requiresRoot: false, lock: nil,
                        supportsCheckMode: check, parameters: "n: number")
        }
        return CommandCatalogue([
            CommandDescriptor(info: info("test.checkable", check: true)) { params in
                calls.add("test.checkable")
                guard params["n"]?.doubleValue != nil else { throw ParameterError("n: required number") }
            },
            CommandDescriptor(info: info("test.uncheckable", check: false)) { _ in
                calls.add("test.uncheckable")
            },
        ])
    }

    @Test("validate refuses an unknown command without running any validator")
    func unknownCommand() {
        let calls = Calls()
        let e = #expect(throws: ParameterError.self) {
            try catalogue(calls).validate(command: "test.nope", params: .emptyObject, checkMode: false)
        }
        #expect(e?.message == "unknown command 'test.nope'")
        #expect(calls.all.isEmpty)
    }

    @Test("validate refuses check mode for a command that does not support it, before its validator")
    func checkModeUnsupported() throws {
        let calls = Calls()
        let c = catalogue(calls)
        let e = #expect(throws: ParameterError.self) {
            try c.validate(command: "test.uncheckable", params: .emptyObject, checkMode: true)
        }
        #expect(e?.message.contains("does not support check mode") == true)
        #expect(calls.all.isEmpty)
        // Without check mode it is fine, and the validator runs.
        try c.validate(command: "test.uncheckable", params: .emptyObject, checkMode: false)
        #expect(calls.all == ["test.uncheckable"])
    }

    @Test("validate runs the command's validator and passes its error on")
    func validatorRuns() throws {
        let calls = Calls()
        let c = catalogue(calls)
        try c.validate(command: "test.checkable", params: .object(["n": .number(1)]), checkMode: true)
        let e = #expect(throws: ParameterError.self) {
            try c.validate(command: "test.checkable", params: .object(["n": .string("x")]), checkMode: false)
        }
        #expect(e?.message == "n: required number")
        #expect(calls.all == ["test.checkable", "test.checkable"])
        #expect(c.infos.map(\.id) == ["test.checkable", "test.uncheckable"])
    }
}

@Suite("Enrollment secrets")
struct EnrollmentTests {
    @Test("48 hex characters are well formed")
    func wellFormed() {
        #expect(Enrollment.isWellFormedSecret(String(repeating: "a1", count: 24)))
        #expect(Enrollment.isWellFormedSecret("0123456789abcdef0123456789abcdef0123456789abcdef"))
        // Upper-case hex is accepted; every caller lower-cases before hashing.
        #expect(Enrollment.isWellFormedSecret("0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"))
    }

    @Test("wrong length or non-hex characters are refused", arguments: [
        "", String(repeating: "a", count: 47), String(repeating: "a", count: 49),
        String(repeating: "a", count: 47) + "g", String(repeating: "a", count: 47) + " ",
        String(repeating: "a", count: 46) + "é", "bct_" + String(repeating: "a", count: 44),
        String(repeating: "a", count: 47) + "\n",
    ])
    func refused(_ s: String) {
        #expect(!Enrollment.isWellFormedSecret(s))
    }
}
