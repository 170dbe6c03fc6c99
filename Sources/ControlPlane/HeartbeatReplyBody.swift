import BalctlProtocol
import Foundation
import NIOCore

/// Writes the heartbeat reply. Nearly every reply hands over no job and no cancel; those are
/// written from bytes fixed at start plus the server time, without JSONEncoder (which cost 4 % of
/// the control plane's CPU under heartbeat load). Replies that carry jobs or cancels go through
/// JSONEncoder as before. Both decode to the same `HeartbeatReply`.
struct HeartbeatReplyBody: Sendable {
    let intervalSec: Int
    let latestAgentVersion: String
    /// `{"heartbeatIntervalSec":N,"latestAgentVersion":"…","jobs":[],"cancelJobs":[],"serverTime":`
    private let emptyPrefix: [UInt8]

    init(intervalSec: Int, latestAgentVersion: String) throws {
        self.intervalSec = intervalSec
        self.latestAgentVersion = latestAgentVersion
        // The version goes through JSONEncoder once, so any character in it is escaped correctly.
        let version = String(decoding: try JSONEncoder().encode(latestAgentVersion), as: UTF8.self)
        emptyPrefix = Array(#"{"heartbeatIntervalSec":\#(intervalSec),"latestAgentVersion":\#(version),"jobs":[],"cancelJobs":[],"serverTime":"#.utf8)
    }

    func body(serverTime: Double, jobs: [ClaimedJob], cancels: [JobRef]) throws -> ByteBuffer {
        guard jobs.isEmpty, cancels.isEmpty, serverTime.isFinite else {
            let reply = HeartbeatReply(heartbeatIntervalSec: intervalSec, serverTime: serverTime, jobs: jobs,
                                       cancelJobs: cancels, latestAgentVersion: latestAgentVersion)
            return ByteBuffer(bytes: try JSONEncoder().encode(reply))
        }
        // Swift's description of a finite Double is the shortest text that reads back to the same
        // value, and is valid JSON ("1764124000.25", "1e+16").
        var buffer = ByteBuffer()
        buffer.reserveCapacity(emptyPrefix.count + 24)
        buffer.writeBytes(emptyPrefix)
        buffer.writeString(serverTime.description)
        buffer.writeInteger(UInt8(ascii: "}"))
        return buffer
    }
}
