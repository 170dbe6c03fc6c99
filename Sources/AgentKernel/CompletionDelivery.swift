import FoundationEssentials
import BalctlProtocol

/// What the control plane made of one attempt to send a completion.
enum DeliveryVerdict: Sendable {
    /// Answered: accepted, stale (409) or gone (404). The record can go.
    case answered(CompletionAck)
    /// Refused for good (400, 413, any 4xx but 408/429, or a body that cannot be encoded): sending
    /// it again can never succeed (issue 20 item 14).
    case refused(String)
    /// Worth another try later (5xx, 408, 429, network errors).
    case retry(String)

    init(_ error: any Error) {
        switch error {
        case let e as AgentAPIError where (400..<500).contains(e.status) && e.status != 408 && e.status != 429:
            self = .refused(e.description)
        case let e as EncodingError:
            self = .refused("the report cannot be encoded: \(e)")
        default:
            self = .retry("\(error)")
        }
    }
}

/// Shapes completions so the control plane can take them.
enum CompletionShaping {
    /// The runner's backstop under the control plane's body limit, with room for the HTTP framing.
    static let maxBodyBytes = AgentWire.maxAgentBodyBytes - 16 * 1024
    static let maxErrorBytes = 4096

    /// `c`, or a copy that encodes to at most `maxBytes`: an over-long error is cut, a result too
    /// large (or not encodable) is dropped with a note in the output, and the output keeps a shorter
    /// tail. Handlers cap their own results; this catches the one that did not (issue 20 item 14).
    static func fit(_ c: JobCompletion, maxBytes: Int = maxBodyBytes) -> JobCompletion {
        if let size = encodedSize(c), size <= maxBytes { return c }
        var out = c
        var notes = ""
        if let error = out.error, error.utf8.count > maxErrorBytes {
            out.error = String(decoding: Array(error.utf8.prefix(maxErrorBytes)), as: UTF8.self) + "…"
        }
        // A result that could take half the budget (or cannot be encoded) goes first; the output
        // tail is cut next; a result that still does not fit goes last.
        if let result = out.result, encodedSize(result).map({ $0 > maxBytes / 2 }) ?? true {
            notes += dropNote(result)
            out.result = nil
        }
        out.output = notes + c.output
        if cutOutput(&out, original: c.output, notes: notes, maxBytes: maxBytes), let result = out.result {
            notes += dropNote(result)
            out.result = nil
            out.output = notes + c.output
            _ = cutOutput(&out, original: c.output, notes: notes, maxBytes: maxBytes)
        }
        return out
    }

    /// Halve the output tail until `c` fits; true when it still does not fit with no output left.
    private static func cutOutput(_ c: inout JobCompletion, original: String, notes: String,
                                  maxBytes: Int) -> Bool {
        var keep = original.utf8.count
        while encodedSize(c).map({ $0 > maxBytes }) ?? true {
            if keep == 0 { return true }
            keep /= 2
            c.output = notes + "[output cut to its last \(keep) bytes to fit in a report]\n"
                + lastBytes(original, keep)
        }
        return false
    }

    private static func dropNote(_ result: JSONValue) -> String {
        encodedSize(result).map { "[result dropped: \($0) bytes of JSON do not fit in a report]\n" }
            ?? "[result dropped: it cannot be encoded as JSON]\n"
    }

    /// The short failure sent in place of a completion the control plane refused; the full one
    /// stays on the agent at `keptAt`.
    static func shortFailure(for c: JobCompletion, reason: String, keptAt: String?) -> JobCompletion {
        let reason = String(reason.prefix(500))
        var text = "the control plane refused this job's report (\(reason))"
        text += keptAt.map { "; the full report is kept on the agent at \($0)" } ?? ""
        let status: AttemptStatus = (c.status == .cancelled || c.status == .interrupted) ? c.status : .failed
        return JobCompletion(
            jobId: c.jobId, attempt: c.attempt, status: status, exitCode: c.exitCode,
            output: lastBytes(c.output, 2048) + "\n" + text + "\n", result: nil, changed: c.changed,
            error: text, startedAt: c.startedAt, finishedAt: c.finishedAt)
    }

    private static func encodedSize<T: Encodable>(_ value: T) -> Int? {
        (try? JSONEncoder().encode(value))?.count
    }

    /// The last `count` bytes of `text`, not starting inside a UTF-8 sequence.
    static func lastBytes(_ text: String, _ count: Int) -> String {
        var bytes = Array(text.utf8.suffix(count))
        while let f = bytes.first, f & 0xC0 == 0x80 { bytes.removeFirst() }
        return String(decoding: bytes, as: UTF8.self)
    }
}
