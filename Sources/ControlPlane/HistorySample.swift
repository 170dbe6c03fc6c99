import BalctlProtocol
import Foundation

/// What the sampled heartbeat history keeps of a report (issue 20 item 7). The latest report of a
/// member is kept as sent (one per member); the history holds up to `historyKeep` samples per
/// member, so a report the size of the body limit, sampled as sent, would cost hundreds of MB per
/// member per day.
enum HistorySample {
    /// The report as sent when it fits in `maxBytes`. Otherwise the host's vitals, which are
    /// what the history views read (`balctl members heartbeats`: agent version, load, CPU,
    /// memory; and the host facts beside them), with the plugin stacks, the command list and the
    /// jobs dropped and every string clipped. When even that does not fit, or the report does
    /// not decode as a `HostReport` (the ingest checks only its envelope), only the envelope.
    static func make(_ raw: String, envelope: HeartbeatEnvelope, maxBytes: Int) -> String {
        guard raw.utf8.count > maxBytes else { return raw }
        if let report = try? JSONTree.decode(HostReport.self, from: raw),
           let text = encode(vitals(of: report)), text.utf8.count <= maxBytes {
            return text
        }
        return encode(Envelope(hostname: clip(envelope.hostname), agentVersion: clip(envelope.agentVersion),
                               protocolVersion: envelope.protocolVersion, jobsInFlight: [])) ?? "{}"
    }

    static func vitals(of r: HostReport) -> HostReport {
        var r = r
        r.hostname = clip(r.hostname)
        r.agentVersion = clip(r.agentVersion)
        r.os = OSInfo(family: clip(r.os.family), id: clip(r.os.id), versionID: clip(r.os.versionID),
                      prettyName: clip(r.os.prettyName), kernel: clip(r.os.kernel))
        r.load = Array(r.load.prefix(3))
        r.disks = r.disks.prefix(16).map {
            DiskInfo(mount: clip($0.mount), fsType: clip($0.fsType), totalBytes: $0.totalBytes, availableBytes: $0.availableBytes)
        }
        r.publicIPv4 = r.publicIPv4.map(clip)
        r.publicIPSource = r.publicIPSource.map(clip)
        r.stacks = [:]
        r.hiddenStacks = nil
        r.commands = []
        r.jobsInFlight = []
        return r
    }

    /// The envelope fields, for a report that cannot be kept otherwise.
    struct Envelope: Encodable {
        var hostname: String
        var agentVersion: String
        var protocolVersion: Int
        var jobsInFlight: [JobRef]
    }

    static func clip(_ s: String) -> String { s.count <= 128 ? s : String(s.prefix(128)) }

    static func encode(_ value: some Encodable) -> String? {
        (try? JSONEncoder().encode(value)).map { String(decoding: $0, as: UTF8.self) }
    }
}
