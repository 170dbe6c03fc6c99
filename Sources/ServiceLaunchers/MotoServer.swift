#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A real moto S3 server (moto_server's `main`, moto 5 in the image's Python) on a
/// free loopback port, with signature checking turned ON: moto normally accepts any request, so a
/// start-up script (boto3) first creates, while moto still waives authentication, an IAM user with
/// an s3:* policy, its access key and the bucket, and then tells moto (`/moto-api/reset-auth` 0)
/// to verify every later request — moto recomputes each SigV4 signature with botocore, an
/// implementation independent of ours. One place for moto's setup: the `.motoServer` test trait
/// and `balctl-bench` start it through `start()`.
public final class MotoServer: Sendable {
    public static let bucket = "balctl-snapshots"
    public static let region = "us-east-1"
    public let dir: URL
    public let port: UInt16
    /// The IAM user's key: the only credentials moto accepts once started.
    public let accessKeyID: String
    public let secretAccessKey: String
    public let process: Process
    /// The Python that runs moto and has boto3 (the independent client of the tests).
    public let python: String

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(_ d: String) { description = d }
    }

    /// "http://127.0.0.1:PORT".
    public var endpoint: String { "http://127.0.0.1:\(port)" }

    /// Start moto, wait until it answers, create the user, key and bucket, and turn auth on.
    public static func start() async throws -> MotoServer {
        let python = try locate()
        let dir = URL(fileURLWithPath: "/tmp/balctl-moto-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let port = try Loopback.freePort()
        let p = Process()
        // moto's own entry point (what `moto_server` runs), behind the two fixes of `serverScript`.
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", serverScript, "-H", "127.0.0.1", "-p", "\(port)"]
        p.currentDirectoryURL = dir
        var env = ProcessInfo.processInfo.environment
        // Nothing from the developer's own AWS setup may leak into the server.
        for name in env.keys where name.hasPrefix("AWS_") || name == "INITIAL_NO_AUTH_ACTION_COUNT" { env[name] = nil }
        p.environment = env
        let logPath = dir.appendingPathComponent("moto.log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        p.standardOutput = log
        p.standardError = log
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let log_ = { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
        func fail(_ why: String) -> Failure {
            if p.isRunning { p.terminate(); p.waitUntilExit() }
            let text = log_()
            try? FileManager.default.removeItem(at: dir)
            return Failure("\(why)\nmoto log:\n\(text)")
        }
        // Wait for the port, then bootstrap (the script retries too, for moto's first import).
        let deadline = Date().addingTimeInterval(30)
        while !portAnswers(port) {
            guard p.isRunning else { throw fail("moto_server exited at start") }
            guard Date() < deadline else { throw fail("moto_server did not listen on 127.0.0.1:\(port) within 30 s") }
            try await Task.sleep(for: .milliseconds(100))
        }
        let r = try runPython(python, bootstrapScript, ["http://127.0.0.1:\(port)", bucket, region], env: [:], scratch: dir)
        let fields = r.out.split(separator: "\n").map(String.init)
        guard r.status == 0, fields.count >= 2 else {
            throw fail("moto bootstrap (boto3) failed (\(r.status)): \(r.err)\(r.out)")
        }
        return MotoServer(dir: dir, port: port, accessKeyID: fields[0], secretAccessKey: fields[1], process: p, python: python)
    }

    private init(dir: URL, port: UInt16, accessKeyID: String, secretAccessKey: String, process: Process, python: String) {
        self.dir = dir; self.port = port; self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey; self.process = process; self.python = python
    }

    deinit { stop() }

    /// Stops moto (it keeps everything in memory) and removes its directory. Safe to call twice.
    /// SIGTERM first; SIGKILL if moto is still there after 5 s, so a stuck server cannot hang
    /// the end of a suite.
    public func stop() {
        if process.isRunning {
            process.terminate()
            let deadline = Date().addingTimeInterval(5)
            while process.isRunning && Date() < deadline { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: dir)
    }

    /// Runs a Python snippet with boto3 against this server (AWS_* set to the server's key and
    /// endpoint, argv after the script): the tests' independent client. Output through files, so
    /// a large stderr cannot stall a pipe.
    public func boto3(_ script: String, _ args: [String] = []) throws -> (status: Int32, out: String, err: String) {
        try Self.runPython(python, script, args, env: [
            "AWS_ACCESS_KEY_ID": accessKeyID, "AWS_SECRET_ACCESS_KEY": secretAccessKey,
            "AWS_DEFAULT_REGION": Self.region, "AWS_ENDPOINT_URL": endpoint,
        ], scratch: dir)
    }

    /// The python3 on PATH that can import moto's server and boto3.
    static func locate() throws -> String {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":")
        guard let python = path.map({ "\($0)/python3" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw Failure("python3 is missing: moto needs it (see README)")
        }
        let probe = try runPython(python, "import moto.server, boto3", [], env: [:], scratch: nil)
        guard probe.status == 0 else {
            throw Failure("moto or boto3 is missing: pip install \"moto[server]\" boto3 (see README)\n\(probe.err)")
        }
        return python
    }

    static func portAnswers(_ port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return Loopback.connect(fd, port: port)
    }

    /// `python -c SCRIPT ARGS…` with `env` added to (AWS_* removed from) the environment.
    public static func runPython(_ python: String, _ script: String, _ args: [String], env: [String: String],
                                 scratch: URL?) throws -> (status: Int32, out: String, err: String) {
        let base = scratch ?? FileManager.default.temporaryDirectory
        let tag = UUID().uuidString
        let outURL = base.appendingPathComponent("py-\(tag).out"), errURL = base.appendingPathComponent("py-\(tag).err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: outURL); try? FileManager.default.removeItem(at: errURL) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", script] + args
        var environment = ProcessInfo.processInfo.environment
        for name in environment.keys where name.hasPrefix("AWS_") { environment[name] = nil }
        environment.merge(env) { $1 }
        p.environment = environment
        let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
        defer { try? out.close(); try? err.close() }
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        let read = { (u: URL) in (try? String(contentsOf: u, encoding: .utf8)) ?? "" }
        return (p.terminationStatus, read(outURL), read(errURL))
    }

    /// Runs moto's server with two corrections, both seen here with moto 5.2:
    /// - The signal mask is cleared: Foundation's Process passes on the spawning thread's mask,
    ///   and a Swift test process's worker threads block SIGTERM, so moto ignored `terminate()`.
    /// - moto checks a SigV4 signature against werkzeug's *decoded* URL, so a query value holding
    ///   %2F ("prefix=balctl%2F3%2F…", which AWS and botocore sign encoded) fails there with
    ///   SignatureDoesNotMatch — botocore's own signing of such a URL fails the same way (checked by
    ///   hand). The check is pointed at the raw query string as received, which is what AWS signs.
    ///   Nothing else of moto changes: the signature is still recomputed by botocore.
    static let serverScript = #"""
import signal, sys
from urllib.parse import urlsplit, urlunsplit
signal.pthread_sigmask(signal.SIG_SETMASK, [])
import moto.core.responses as responses
original_setup_class = responses.BaseResponse.setup_class
def setup_class(self, request, full_url, headers, *args, **kwargs):
    result = original_setup_class(self, request, full_url, headers, *args, **kwargs)
    raw_query = getattr(request, "environ", {}).get("QUERY_STRING")
    if raw_query:
        self.uri = urlunsplit(urlsplit(self.uri)._replace(query=raw_query))
    return result
responses.BaseResponse.setup_class = setup_class
from moto.server import main
main(sys.argv[1:])
"""#

    /// argv: endpoint, bucket, region. Prints the access key ID and secret, one a line. Every
    /// request before reset-auth is unauthenticated (moto's default); reset-auth 0 makes moto
    /// check every request after it.
    static let bootstrapScript = #"""
import json, sys, time, urllib.request
import boto3
endpoint, bucket, region = sys.argv[1], sys.argv[2], sys.argv[3]
kw = dict(endpoint_url=endpoint, region_name=region, aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
iam = boto3.client("iam", **kw)
for attempt in range(100):
    try:
        iam.create_user(UserName="balctl")
        break
    except Exception:
        if attempt == 99: raise
        time.sleep(0.2)
iam.put_user_policy(UserName="balctl", PolicyName="s3", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
key = iam.create_access_key(UserName="balctl")["AccessKey"]
boto3.client("s3", **kw).create_bucket(Bucket=bucket)
# text/plain: with urllib's default form type, moto's Flask reads the body as a form and sees "".
urllib.request.urlopen(urllib.request.Request(endpoint + "/moto-api/reset-auth", data=b"0", method="POST",
                                              headers={"Content-Type": "text/plain"})).read()
print(key["AccessKeyId"])
print(key["SecretAccessKey"])
"""#
}
