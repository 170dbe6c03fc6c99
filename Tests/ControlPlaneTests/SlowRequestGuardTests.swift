@testable import ControlPlane
import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import Testing

/// The read deadline per request kind: an ordinary request whose body has not all arrived is
/// dropped after the read timeout; a snapshot part PUT, whose body the agent streams while it
/// compresses, gets the longer part deadline. (The trickled-body fleet test is in
/// IngestHardeningTests, over real sockets.)
@Suite("Slow request guard: read deadlines")
struct SlowRequestGuardTests {
    /// A channel whose request `method path` has begun (head and some body), not ended.
    func begun(_ method: HTTPRequest.Method, _ path: String) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(handler: SlowRequestGuard(readTimeout: .seconds(30), partReadTimeout: .seconds(600)))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(HTTPRequestPart.head(HTTPRequest(method: method, scheme: nil, authority: "x", path: path)))
        try channel.writeInbound(HTTPRequestPart.body(ByteBuffer(string: "first bytes")))
        return channel
    }

    @Test("a heartbeat body still arriving after the read timeout is dropped with its connection")
    func ordinaryRequest() throws {
        let channel = try begun(.post, "/api/agents/heartbeat")
        channel.embeddedEventLoop.advanceTime(by: .seconds(29))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
    }

    @Test("a snapshot part PUT streams past the read timeout, up to the part deadline")
    func streamedPart() throws {
        let channel = try begun(.put, "/api/agents/snapshots/0123456789abcdef0123456789abcdef/data/3")
        channel.embeddedEventLoop.advanceTime(by: .seconds(120))
        #expect(channel.isActive)
        try channel.writeInbound(HTTPRequestPart.body(ByteBuffer(string: "more")))
        channel.embeddedEventLoop.advanceTime(by: .seconds(481))
        #expect(!channel.isActive)
    }

    @Test("only a PUT under the snapshot prefix gets the part deadline")
    func otherRoutesKeepTheReadTimeout() throws {
        for (method, path) in [(HTTPRequest.Method.get, "/api/agents/snapshots/0123456789abcdef0123456789abcdef/data/3"),
                               (.put, "/api/members/1"), (.post, "/api/agents/snapshots/begin/../../x")] {
            let channel = try begun(method, path)
            channel.embeddedEventLoop.advanceTime(by: .seconds(31))
            #expect(!channel.isActive, "\(method) \(path)")
        }
    }
}
