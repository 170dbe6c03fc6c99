#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import FoundationEssentials
import BalctlProtocol
import CurlClient

/// One self-update, in steps a crash may interrupt anywhere (the tests SIGKILL inside each):
///
/// 1. **download** agent.zip over HTTPS into the state directory (size-capped, never a fixed name);
/// 2. **verify**: every entry is a plain regular file; `manifest.sig` is a valid Ed25519 signature
///    of `manifest.json` by the pinned key; the manifest has not expired, allows this agent to
///    install it, and is not older than the highest version ever confirmed here (the version
///    guard); the zip holds exactly the files it lists, with their sizes and SHA-256s;
/// 3. **extract** the binary beside the installed one (hash and size checked again as written);
/// 4. **swap**: record the pending update, keep the old binary as `.prev`, rename the new one in.
///
/// Restarting into the new version (and rolling back when it does not come up) is the caller's:
/// `UpdateSupervisor`. Until the rename in step 4 the installed binary is untouched.
public struct AgentUpdater: Sendable {
    public let settings: UpdateSettings
    public let current: AgentVersion
    let state: UpdateState

    public enum Outcome: Sendable, Equatable {
        /// The new binary is in place and on trial; restart into it.
        case installed(PendingUpdate)
        /// The bundle is this very version.
        case unchanged(String)
        /// Check mode: everything verified, this would be installed.
        case wouldInstall(from: String, to: String)
    }

    public init(settings: UpdateSettings, current: AgentVersion = AgentVersion(BalctlVersion.current)!, state: UpdateState? = nil) {
        self.settings = settings; self.current = current
        self.state = state ?? UpdateState(stateDir: settings.stateDir)
    }

    public func run(checkMode: Bool = false, jobId: Int64? = nil, log: @Sendable (String) -> Void = { _ in }) async throws(UpdateRefusal) -> Outcome {
        guard let key = settings.publicKey else {
            throw UpdateRefusal(.noPublicKey, "no BALCTL_UPDATE_PUBKEY pinned in agent.env: re-enrol with --update-pubkey (balctl members add prints it)")
        }
        do { try state.prepare() } catch { throw UpdateRefusal(.install, "state directory: \(error)") }
        let lock = try lockUpdates()
        defer { close(lock) }
        let swap = BinarySwap(path: settings.binaryPath)
        swap.cleanScratch()
        cleanWorkDir()

        log("download: \(settings.url)")
        let zip = try await download()
        defer { unlink(zip) }

        log("verify: signature, version, files")
        let manifest = try verify(zip, key: key)
        settings.pause("verify")
        let target = AgentVersion(manifest.version)!
        if target == current { return .unchanged(manifest.version) }
        if checkMode { return .wouldInstall(from: current.description, to: manifest.version) }

        log("extract: \(AgentBundle.binaryName) \(manifest.version)")
        let (fd, staged) = try swap.stage()
        do {
            try BundleArchive.extract(zip, name: AgentBundle.binaryName, expect: manifest.file(AgentBundle.binaryName)!,
                                      to: fd, midway: { settings.pause("extract") })
            try swap.seal(fd)
        } catch {
            swap.discard(staged)
            throw error
        }

        log("swap: \(settings.binaryPath) (previous kept as \(swap.previousName))")
        let pending = PendingUpdate(from: current.description, to: manifest.version, binaryPath: settings.binaryPath,
                                    deadline: unixNow() + Double(settings.rollbackSec), jobId: jobId)
        do { try state.setPending(pending) } catch {
            swap.discard(staged)
            throw UpdateRefusal(.install, "cannot record the pending update: \(error)")
        }
        do {
            try swap.swap(staged: staged, betweenSteps: { settings.pause("swap") })
        } catch {
            swap.discard(staged)
            state.clearPending()
            throw error
        }
        settings.pause("restart")
        return .installed(pending)
    }

    // MARK: steps

    /// One update at a time per host (the service's job and a manual `--update`).
    private func lockUpdates() throws(UpdateRefusal) -> Int32 {
        let fd = open(state.directory + "/lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw UpdateRefusal(.install, "cannot open the update lock: \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw UpdateRefusal(.install, "another update is running on this host")
        }
        return fd
    }

    private func cleanWorkDir() {
        guard let dir = opendir(state.directory) else { return }
        defer { closedir(dir) }
        var stale: [String] = []
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name.hasPrefix("agent.zip.") || name.hasPrefix("paused-at-") { stale.append(name) }
        }
        for name in stale { unlinkat(dirfd(dir), name, 0) }
    }

    private func download() async throws(UpdateRefusal) -> String {
        let path = state.directory + "/agent.zip." + SafeFile.hex(UInt64.random(in: .min ... .max))
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw UpdateRefusal(.download, "cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var options = CurlSession.Options(caFile: settings.caFile, requireHTTPS: true,
                                          userAgent: "balctl-heartbeat/\(current)")
        options.timeoutMs = 600_000
        let settings = self.settings
        do {
            let session = try CurlSession(options: options)
            let (status, _) = try await session.download(settings.url, toFileDescriptor: fd, maxBytes: settings.maxBytes,
                                                         afterFirstBytes: { settings.pause("download") })
            guard status == 200 else {
                unlink(path)
                throw UpdateRefusal(.download, "GET \(settings.url) answered HTTP \(status)")
            }
        } catch let e as UpdateRefusal {
            throw e
        } catch let e as HTTPClientError where e.isOversized {
            unlink(path)
            throw UpdateRefusal(.downloadSize, "agent.zip is larger than BALCTL_UPDATE_MAX_BYTES (\(settings.maxBytes) bytes)")
        } catch let e as RequestRefused {
            unlink(path)
            throw UpdateRefusal(.plaintextURL, e.description)
        } catch {
            unlink(path)
            throw UpdateRefusal(.download, "\(error)")
        }
        return path
    }

    func verify(_ zip: String, key: [UInt8]) throws(UpdateRefusal) -> AgentBundleManifest {
        let scan = try BundleArchive.scan(zip)
        guard let manifestBytes = scan.manifest else { throw UpdateRefusal(.manifest, "the zip has no manifest.json") }
        guard let sigText = scan.signature else { throw UpdateRefusal(.noSignature, "the zip has no manifest.sig") }
        let trimmed = String(decoding: sigText, as: UTF8.self).filter { !$0.isWhitespace }
        guard let sig = Data(base64Encoded: trimmed), sig.count == Ed25519.signatureBytes else {
            throw UpdateRefusal(.badSignature, "manifest.sig is not a base64 Ed25519 signature")
        }
        guard Ed25519.verify(signature: Array(sig), message: manifestBytes, publicKey: key) else {
            throw UpdateRefusal(.badSignature, "manifest.sig does not verify with the pinned BALCTL_UPDATE_PUBKEY (tampered manifest or another key)")
        }
        let manifest: AgentBundleManifest
        do { manifest = try AgentBundleManifest.parse(manifestBytes) } catch { throw UpdateRefusal(.manifest, error.description) }
        let target = AgentVersion(manifest.version)!
        if let notAfter = UTCStamp.parse(manifest.notAfter), Double(notAfter) < unixNow() {
            throw UpdateRefusal(.expired, "the bundle expired at \(manifest.notAfter)")
        }
        if let min = manifest.minAgentVersion.flatMap(AgentVersion.init), current < min {
            throw UpdateRefusal(.minimumVersion, "this agent (\(current)) is older than the bundle allows (\(min)): re-run balctl-agent.sh from the bundle")
        }
        let highest = max(current, state.highestConfirmed() ?? current)
        if target < highest && !settings.allowDowngrade {
            throw UpdateRefusal(.olderVersion, "bundle \(target) is older than \(highest), the highest version installed here (BALCTL_ALLOW_AGENT_DOWNGRADE=1 overrides)")
        }
        try Self.matchContents(scan, manifest)
        return manifest
    }

    /// The zip at `path` holds exactly the manifest's files with their sizes and hashes (the
    /// control plane checks a bundle with this before serving it).
    public static func checkContents(zip path: String, manifest: AgentBundleManifest) throws(UpdateRefusal) {
        try matchContents(try BundleArchive.scan(path), manifest)
    }

    static func matchContents(_ scan: BundleArchive.Scan, _ manifest: AgentBundleManifest) throws(UpdateRefusal) {
        let listed = Set(manifest.files.map(\.name))
        let present = Set(scan.files.keys)
        if let extra = present.subtracting(listed).sorted().first {
            throw UpdateRefusal(.unexpectedEntry, "the zip holds '\(extra)', which the manifest does not list")
        }
        if let missing = listed.subtracting(present).sorted().first {
            throw UpdateRefusal(.fileSet, "the manifest lists '\(missing)', which the zip does not hold")
        }
        for file in manifest.files {
            let got = scan.files[file.name]!
            guard got.size == file.size else { throw UpdateRefusal(.size, "\(file.name) is \(got.size) bytes, the manifest says \(file.size)") }
            guard got.sha256 == file.sha256 else { throw UpdateRefusal(.hash, "\(file.name) does not match the manifest's SHA-256") }
        }
    }
}
