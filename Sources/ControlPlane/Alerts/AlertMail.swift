import CurlClient
import Foundation

/// One alert email as RFC 5322 text: plain UTF-8 text, quoted-printable (7-bit clean, so no relay
/// needs 8BITMIME), CRLF line ends, the subject RFC 2047-encoded when it is not short ASCII.
/// Nothing the alert's author wrote can add a header: addresses with a line break or other
/// control character are refused, and line breaks in the subject become spaces.
struct AlertMail: Sendable {
    var from: String
    var to: String
    var subject: String
    var text: String
    var kind: String
    var date: Date
    /// Unique per message (the outbox row and a random part).
    var messageID: String

    init(from: String, to: String, subject: String, text: String, kind: String, date: Date = Date(), uniquePart: String) {
        self.from = from; self.to = to; self.subject = subject; self.text = text; self.kind = kind; self.date = date
        let domain = from.split(separator: "@").last.map(String.init) ?? "localhost"
        messageID = "<balctl-alert.\(uniquePart).\(Secrets.randomHex(bytes: 8))@\(domain)>"
    }

    func rfc5322() throws -> [UInt8] {
        try SMTPMailer.checkAddress(from, "sender")
        try SMTPMailer.checkAddress(to, "recipient")
        let headers = [
            "From: \(from)",
            "To: \(to)",
            "Subject: \(Self.encodedSubject(subject))",
            "Date: \(Self.rfc5322Date(date))",
            "Message-ID: \(messageID)",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: quoted-printable",
            // RFC 3834: machine-sent; auto-responders should not answer.
            "Auto-Submitted: auto-generated",
            "X-Balctl-Event: \(kind.filter { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") })",
        ]
        return Array((headers.joined(separator: "\r\n") + "\r\n\r\n" + Self.quotedPrintable(text)).utf8)
    }

    /// "Fri, 27 Nov 2026 07:43:35 +0000".
    static func rfc5322Date(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return f.string(from: date)
    }

    /// The subject on one line (CR, LF and other controls become spaces); as-is when it is
    /// printable ASCII that fits one header line, otherwise RFC 2047 "B" encoded-words (64
    /// characters each), split between whole code points, folded onto continuation
    /// lines.
    static func encodedSubject(_ subject: String) -> String {
        let oneLine = String(String.UnicodeScalarView(subject.unicodeScalars.map {
            $0.value < 0x20 || $0.value == 0x7f ? " " : $0
        }))
        if oneLine.utf8.count <= 66, oneLine.unicodeScalars.allSatisfy({ $0.isASCII }), !oneLine.contains("=?") {
            return oneLine
        }
        // 39 bytes of text per word: 52 base64 characters, 64 with "=?utf-8?B?" and "?=", so
        // even the first line ("Subject: " + word) stays under 78 characters.
        var words: [String] = []
        var chunk: [UInt8] = []
        for scalar in oneLine.unicodeScalars {  // whole code points per word (RFC 2047 section 5)
            let bytes = Array(String(scalar).utf8)
            if chunk.count + bytes.count > 39, !chunk.isEmpty {
                words.append("=?utf-8?B?\(Data(chunk).base64EncodedString())?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty { words.append("=?utf-8?B?\(Data(chunk).base64EncodedString())?=") }
        return words.joined(separator: "\r\n ")
    }

    /// RFC 2045 quoted-printable with CRLF line ends: lines of at most 76 characters (soft breaks
    /// "="), `=`, controls and non-ASCII bytes as =XX, a space or tab before a line end encoded,
    /// and a "." at the start of a line encoded too, so no line of the body can read as SMTP's
    /// end-of-data whatever the transport does.
    static func quotedPrintable(_ text: String) -> String {
        let normalized = text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        var out: [String] = []
        for line in normalized.split(separator: "\n", omittingEmptySubsequences: false) {
            let bytes = Array(line.utf8)
            var tokens: [String] = []
            for (i, b) in bytes.enumerated() {
                let last = i == bytes.count - 1
                let literal = (b >= 33 && b <= 126 && b != UInt8(ascii: "=")) || ((b == 32 || b == 9) && !last)
                tokens.append(literal ? String(UnicodeScalar(b)) : String(format: "=%02X", b))
            }
            var current = ""
            for token in tokens {
                if current.count + token.count > 75 {  // leave room for the soft break "="
                    out.append(current + "=")
                    current = ""
                }
                current += current.isEmpty && token == "." ? "=2E" : token
            }
            out.append(current)
        }
        return out.joined(separator: "\r\n") + "\r\n"
    }
}
