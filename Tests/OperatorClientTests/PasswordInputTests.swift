@testable import OperatorClient
import Testing

/// `balctl users add --password-stdin`: what is read from standard input becomes the password.
@Suite struct PasswordInputTests {
    @Test("one trailing newline (echo, here-strings) is dropped; the rest is kept byte for byte")
    func trailingNewline() throws {
        #expect(try PasswordInput.fromStdinText("a long secret\n") == "a long secret")
        #expect(try PasswordInput.fromStdinText("a long secret\r\n") == "a long secret")
        #expect(try PasswordInput.fromStdinText("  spaced  ") == "  spaced  ")
    }

    @Test("empty or multi-line input is refused, not sent", arguments: ["", "\n", "one\ntwo\n", "one\rtwo"])
    func refused(text: String) {
        #expect(throws: PasswordInput.Refused.self) { try PasswordInput.fromStdinText(text) }
    }
}
