import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Keeps a slow or hostile client from holding a connection (issue 20 item 8). Hummingbird's idle
/// timeout covers a connection that sends nothing; this covers the rest:
/// - a request whose head and body have not all arrived within `readTimeout` of the read that
///   began it is dropped with its connection (a body trickled one byte at a time keeps resetting
///   an idle timer, never this one);
/// - a response sent before its request's body has arrived (a 401/403 decided from the headers,
///   a 413) carries `Connection: close`, and the connection is closed after it instead of the
///   server reading the rest of a body nobody wants (see `linger`).
/// A request that arrives whole in one read (every heartbeat) schedules nothing.
final class SlowRequestGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let readTimeout: TimeAmount
    /// After an early response, how long and how much of the unwanted body is read and dropped
    /// before the connection is closed anyway.
    static let lingerTime = TimeAmount.seconds(1)
    static let lingerBytes = 64 << 10

    /// Requests whose head arrived, requests whose end arrived, responses finished: the response
    /// being written answers request `responsesSent + 1`.
    private var requestsBegun = 0
    private var requestsReceived = 0
    private var responsesSent = 0
    private var closeAfterResponse = false
    private var lingering = false
    private var dropped = 0
    private var readDeadline: Scheduled<Void>?
    private var lingerDeadline: Scheduled<Void>?

    /// A snapshot part PUT streams while the agent compresses (`PartPipeline`): its body
    /// arrives as fast as the agent reads and compresses files, so it gets the agent's own
    /// transfer bound instead. Such a route answers 401/403 from the headers, so only an
    /// authenticated agent can hold a connection this long.
    let partReadTimeout: TimeAmount
    static let streamedPartPrefix = "/api/agents/snapshots/"
    /// Whether the newest request begun is a part PUT.
    private var streamedPart = false

    init(readTimeout: TimeAmount, partReadTimeout: TimeAmount = .seconds(600)) {
        self.readTimeout = readTimeout
        self.partReadTimeout = max(readTimeout, partReadTimeout)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            requestsBegun += 1
            streamedPart = head.method == .put && head.path?.hasPrefix(Self.streamedPartPrefix) == true
        case .body(let chunk):
            if lingering {
                dropped += chunk.readableBytes
                if dropped > Self.lingerBytes { context.close(promise: nil); return }
            }
        case .end:
            requestsReceived += 1
            if requestsReceived == requestsBegun { cancel(&readDeadline) }
            if lingering {
                context.fireChannelRead(data)
                context.close(promise: nil)  // the client is done sending: nothing unread remains
                return
            }
        }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // Scheduled here, once per incomplete request, rather than for every head.
        if requestsReceived < requestsBegun, readDeadline == nil {
            readDeadline = context.eventLoop.assumeIsolated().scheduleTask(in: streamedPart ? partReadTimeout : readTimeout) {
                context.close(promise: nil)
            }
        }
        context.fireChannelReadComplete()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where requestsReceived <= responsesSent:
            // Answered before its body arrived: say so, and close once the answer is out.
            closeAfterResponse = true
            head.headerFields[.connection] = "close"
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end where closeAfterResponse:
            responsesSent += 1
            let written = promise ?? context.eventLoop.makePromise()
            context.writeAndFlush(data, promise: written)
            written.futureResult.assumeIsolated().whenComplete { _ in self.linger(context) }
        case .end:
            responsesSent += 1
            context.write(data, promise: promise)
        case .head, .body:
            context.write(data, promise: promise)
        }
    }

    /// The early response is out. Closing with unread input makes the kernel reset the
    /// connection, which can destroy the response before the client reads it; so the rest of
    /// the body is read and dropped for a moment (up to `lingerBytes`, up to `lingerTime`).
    private func linger(_ context: ChannelHandlerContext) {
        guard requestsReceived < requestsBegun else {
            context.close(promise: nil)
            return
        }
        lingering = true
        lingerDeadline = context.eventLoop.assumeIsolated().scheduleTask(in: Self.lingerTime) {
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancel(&readDeadline)
        cancel(&lingerDeadline)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancel(&readDeadline)
        cancel(&lingerDeadline)
    }

    private func cancel(_ task: inout Scheduled<Void>?) {
        task?.cancel()
        task = nil
    }
}
