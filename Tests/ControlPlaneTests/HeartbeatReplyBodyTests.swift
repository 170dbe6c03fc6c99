import BalctlProtocol
@testable import ControlPlane
import Foundation
import NIOCore
import Testing

/// The common heartbeat reply is written without JSONEncoder; the agent decodes it with
/// JSONDecoder, so both forms must decode to what was meant.
@Suite("Heartbeat reply body")
struct HeartbeatReplyBodyTests {
    func decoded(_ buffer: ByteBuffer) throws -> HeartbeatReply {
        try JSONDecoder().decode(HeartbeatReply.self, from: Data(buffer.readableBytesView))
    }

    @Test("the fast form (no jobs, no cancels) decodes to the reply, for any server time", arguments: [
        1_764_124_000.123456, 0, -0.0, 1e-7, 1e16, 1_764_124_000, Double.ulpOfOne, 123_456_789_012.5,
    ])
    func fastForm(serverTime: Double) throws {
        let writer = try HeartbeatReplyBody(intervalSec: 7, latestAgentVersion: "1.2.3-\"rc\\1\"")
        let reply = try decoded(try writer.body(serverTime: serverTime, jobs: [], cancels: []))
        #expect(reply.heartbeatIntervalSec == 7)
        #expect(reply.serverTime == serverTime)
        #expect(reply.jobs.isEmpty && reply.cancelJobs.isEmpty)
        #expect(reply.latestAgentVersion == "1.2.3-\"rc\\1\"")
    }

    @Test("replies with jobs or cancels carry them")
    func withJobs() throws {
        let writer = try HeartbeatReplyBody(intervalSec: 1, latestAgentVersion: "0.1.0")
        let job = ClaimedJob(id: 5, command: "host.echo", params: .object(["message": .string("hi")]), attempt: 2,
                             leaseSec: 30, timeoutSec: 60, checkMode: true)
        let reply = try decoded(try writer.body(serverTime: 10.5, jobs: [job], cancels: [JobRef(id: 3, attempt: 1)]))
        #expect(reply.jobs == [job])
        #expect(reply.cancelJobs == [JobRef(id: 3, attempt: 1)])
        #expect(reply.serverTime == 10.5 && reply.heartbeatIntervalSec == 1 && reply.latestAgentVersion == "0.1.0")
    }
}
