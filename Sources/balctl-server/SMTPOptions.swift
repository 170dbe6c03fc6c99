import ArgumentParser
import CurlClient
import Foundation

/// `serve`'s alert mail relay options (issue 12, alerts). The password is read from a file,
/// never taken on the command line (where `ps` would show it).
struct SMTPOptions: ParsableArguments {
    @Option(name: .customLong("smtp-url"), help: "Alert mail relay: smtp://host:port (STARTTLS) or smtps://host:port. Env: BALCTL_SMTP_URL.")
    var smtpURL: String?

    @Option(help: "Sender address of alert mail (required with --smtp-url). Env: BALCTL_SMTP_FROM.")
    var smtpFrom: String?

    @Option(help: "SMTP user (AUTH). Env: BALCTL_SMTP_USER.")
    var smtpUser: String?

    @Option(help: "File holding the SMTP password (keep it mode 0600). Env: BALCTL_SMTP_PASSWORD_FILE.")
    var smtpPasswordFile: String?

    @Option(help: "SMTP AUTH mechanism: plain or login (default: the best the server offers).")
    var smtpAuth: String?

    @Flag(inversion: .prefixedNo, help: "Require STARTTLS on smtp:// (AUTH over clear text is refused except to loopback).")
    var smtpStarttls = true

    @Option(name: .customLong("smtp-ca-file"), help: "CA bundle (PEM) that signs the SMTP server's certificate. Env: BALCTL_SMTP_CA_FILE.")
    var smtpCAFile: String?

    /// nil without --smtp-url; otherwise settings that pass the mail policy.
    func settings(environment env: [String: String] = ProcessInfo.processInfo.environment) throws -> SMTPSettings? {
        let smtpURL = self.smtpURL ?? env["BALCTL_SMTP_URL"], smtpFrom = self.smtpFrom ?? env["BALCTL_SMTP_FROM"]
        let smtpUser = self.smtpUser ?? env["BALCTL_SMTP_USER"]
        let smtpPasswordFile = self.smtpPasswordFile ?? env["BALCTL_SMTP_PASSWORD_FILE"]
        let smtpCAFile = self.smtpCAFile ?? env["BALCTL_SMTP_CA_FILE"]
        guard let url = smtpURL else {
            if smtpFrom != nil || smtpUser != nil || smtpPasswordFile != nil {
                throw ValidationError("--smtp-from, --smtp-user and --smtp-password-file need --smtp-url")
            }
            return nil
        }
        guard let from = smtpFrom else { throw ValidationError("--smtp-url needs --smtp-from (the sender address)") }
        guard (smtpUser == nil) == (smtpPasswordFile == nil) else {
            throw ValidationError("--smtp-user and --smtp-password-file go together")
        }
        var mechanism: SMTPSettings.AuthMechanism?
        if let a = smtpAuth {
            guard let m = SMTPSettings.AuthMechanism(rawValue: a.uppercased()) else {
                throw ValidationError("--smtp-auth must be plain or login")
            }
            mechanism = m
        }
        let settings = SMTPSettings(url: url, from: from, username: smtpUser, password: try smtpPasswordFile.map(Self.readPassword),
                                    startTLS: smtpStarttls, authMechanism: mechanism, caFile: smtpCAFile)
        do { try SMTPMailer.check(settings) } catch { throw ValidationError("SMTP: \(error)") }
        return settings
    }

    /// The file's first line (a trailing newline is not part of the password).
    static func readPassword(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("--smtp-password-file \(path): cannot read it")
        }
        let text = String(decoding: data, as: UTF8.self)
        guard let line = text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init),
              !line.isEmpty else {
            throw ValidationError("--smtp-password-file \(path) is empty")
        }
        return line.hasSuffix("\r") ? String(line.dropLast()) : line
    }
}
