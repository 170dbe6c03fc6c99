import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A password for `balctl users add`: from standard input with `--password-stdin` (scripts,
/// `pass`/`vault` pipes), or typed at a terminal with echo off (twice). Never from an argument:
/// argv is readable by every user through /proc.
public enum PasswordInput {
    public struct Refused: Error, CustomStringConvertible {
        public let description: String
        init(_ d: String) { description = d }
    }

    /// What `--password-stdin` read: one trailing newline (what `echo` or a here-string adds) is
    /// not part of the password; anything else is kept byte for byte.
    public static func fromStdinText(_ text: String) throws -> String {
        var p = text
        // "\r\n" is one Character in Swift: one removeLast drops either ending.
        if p.hasSuffix("\r\n") || p.hasSuffix("\n") { p.removeLast() }
        guard !p.isEmpty else { throw Refused("no password on standard input") }
        guard !p.unicodeScalars.contains(where: { $0 == "\n" || $0 == "\r" }) else {
            throw Refused("the password on standard input spans more than one line")
        }
        return p
    }

    public static func readStdin() throws -> String {
        // 4 KiB is far beyond any password bcrypt takes (72 bytes); the server checks the rest.
        let data = FileHandle.standardInput.readData(ofLength: 4096)
        return try fromStdinText(String(decoding: data, as: UTF8.self))
    }

    /// Prompt on the terminal with echo off, twice; refused when standard input is not a terminal
    /// (a pipe would otherwise be read silently as the answer to a prompt nobody saw).
    public static func prompt(for username: String) throws -> String {
        guard isatty(0) != 0 else {
            throw Refused("standard input is not a terminal: pass --password-stdin and pipe the password in")
        }
        let first = try readHidden("Password for \(username): ")
        let second = try readHidden("Repeat the password: ")
        guard first == second else { throw Refused("the two passwords differ; nothing was changed") }
        guard !first.isEmpty else { throw Refused("empty password") }
        return first
    }

    static func readHidden(_ prompt: String) throws -> String {
        FileHandle.standardError.write(Data(prompt.utf8))
        var saved = termios()
        guard tcgetattr(0, &saved) == 0 else { throw Refused("cannot read the terminal's settings") }
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO)
        quiet.c_lflag |= tcflag_t(ECHONL)
        guard tcsetattr(0, TCSAFLUSH, &quiet) == 0 else { throw Refused("cannot turn the terminal's echo off") }
        // Echo comes back whatever happens next (an interrupt between here and the restore would
        // leave the shell echo-less; the read itself does not throw).
        defer { _ = tcsetattr(0, TCSAFLUSH, &saved) }
        return readLine(strippingNewline: true) ?? ""
    }
}
