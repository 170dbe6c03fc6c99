import AgentKernel
import BalctlProtocol

/// `host.collect_facts`: the host's facts as a structured result (OS, kernel, uptime, CPU,
/// memory, disks), plus `uname -a` run through the process runner.
public struct CollectFactsHandler: CommandHandler {
    public typealias Parameters = NoParameters
    public init() {}
    public static let id = "host.collect_facts"
    public static let summary = "Collect OS, kernel, CPU, memory and disk facts"
    public static let supportsCheckMode = true

    public func run(_ p: NoParameters, in context: JobContext) async throws -> JobOutcome {
        let host = context.host
        let os = host.osInfo()
        let uname = try await context.run("uname", ["-a"], timeoutSec: 10)
        guard uname.succeeded else {
            throw JobFailure("uname -a failed with exit code \(uname.exitCode)", exitCode: Int(uname.exitCode))
        }
        let memory = host.memory()
        let facts: JSONValue = .object([
            "hostname": .string(HostProbe.systemHostname()),
            "osFamily": .string(os.family),
            "osId": .string(os.id),
            "osVersion": .string(os.versionID),
            "osPretty": .string(os.prettyName),
            "kernel": .string(os.kernel),
            "uname": .string(uname.output.trimmedNewlines),
            "uptimeSec": .number(host.uptimeSec()),
            "cpuCount": .number(Double(host.cpuCount())),
            "load": .array(host.loadAverages().map(JSONValue.number)),
            "memoryTotalBytes": .number(Double(memory.totalBytes)),
            "memoryAvailableBytes": .number(Double(memory.availableBytes)),
            "disks": .array(host.disks().map {
                .object(["mount": .string($0.mount), "fsType": .string($0.fsType),
                         "totalBytes": .number(Double($0.totalBytes)),
                         "availableBytes": .number(Double($0.availableBytes))])
            }),
        ])
        return .unchanged("\(os.prettyName), kernel \(os.kernel)", result: facts)
    }
}

extension String {
    var trimmedNewlines: String {
        var s = Substring(self)
        while s.last == "\n" || s.last == "\r" { s = s.dropLast() }
        return String(s)
    }
}
