import BalctlProtocol
import Foundation
import HTTPTypes
import Hummingbird
import Mustache

/// What the dashboard keeps per server: password hashing, the sign-in throttle, session policy,
/// the parsed templates.
public final class DashboardState: Sendable {
    public let hasher: PasswordHasher
    public let limiter = SignInLimiter()
    public let sessions = WebSessionPolicy()
    /// The open SSE streams per user (bounded: red team D3).
    let streams = DashboardStreams()
    /// The live updates' shared pollers, one per watched pool (and the server-wide stream bound).
    let hub: DashboardHub
    let library: MustacheLibrary

    public init(hasher: PasswordHasher = .fromEnvironment(), maxStreams: Int = 1000, sharedPoller: Bool = true) {
        self.hasher = hasher
        self.hub = DashboardHub(maxStreams: maxStreams, shared: sharedPoller)
        self.library = Self.makeLibrary()
    }

    static func makeLibrary() -> MustacheLibrary {
        var lib = MustacheLibrary()
        let t = DashboardTemplates.self
        let all: [(String, String)] = [
            ("layout", t.layout), ("time", t.time), ("error", t.error), ("signin", t.signin), ("pools", t.pools),
            ("poolTabs", t.poolTabs), ("overview", t.overview), ("trafficFlow", t.trafficFlow), ("memberCard", t.memberCard),
            ("confirm", t.confirmMakeActive), ("failover", t.failover), ("memberFrame", t.memberFrame),
            ("tabControl", t.tabControl), ("tabStack", t.tabStack), ("tabStatus", t.tabStatus), ("tabJobs", t.tabJobs),
            ("jobRow", t.jobRow), ("tabRestore", t.tabRestore), ("tabRecipes", t.tabRecipes), ("tabMonitoring", t.tabMonitoring),
            ("tabSettings", t.tabSettings), ("fleetMap", t.fleetMap), ("account", t.account),
            ("confirmAction", t.confirmAction), ("tabStackReadout", t.tabStackReadout), ("clusterView", t.clusterView),
        ]
        for (name, text) in all {
            // The templates are part of the binary: one that does not parse is a build defect.
            try! lib.register(text, named: name)
        }
        return lib
    }

    func render(_ name: String, _ object: [String: Any]) -> String {
        library.render(Self.unwrapped(object), withTemplate: name) ?? ""
    }

    /// The pages build their objects as `[String: Any]`, where `x as Any` of an absent optional
    /// is a value, not nothing: mustache then prints "nil" and opens `{{#x}}` sections. Absent
    /// optionals are dropped here (and present ones unwrapped), through nested objects and lists.
    static func unwrapped(_ object: [String: Any]) -> [String: Any] {
        var out: [String: Any] = [:]
        out.reserveCapacity(object.count)
        for (k, v) in object { if let u = unwrap(v) { out[k] = u } }
        return out
    }

    private static func unwrap(_ v: Any) -> Any? {
        switch v {
        case is String, is Int, is Int64, is Double, is Bool: return v
        case let o as any AnyOptional: return o.wrapped.flatMap(unwrap)
        case let d as [String: Any]: return unwrapped(d)
        case let a as [[String: Any]]: return a.map(unwrapped)
        case let a as [Any]: return a.compactMap(unwrap)
        default: return v
        }
    }
}

/// Lets `unwrapped` see through an optional hidden in an `Any`.
protocol AnyOptional { var wrapped: Any? { get } }
extension Optional: AnyOptional {
    var wrapped: Any? { self.map { $0 as Any } }
}

/// Headers on every dashboard response (the contract's list).
enum DashboardHeaders {
    static let csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    static func apply(_ headers: inout HTTPFields, html: Bool) {
        headers[.contentSecurityPolicy] = csp
        headers[.xContentTypeOptions] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        if html { headers[.cacheControl] = "no-store" }
    }
}

/// A dashboard answer other than a page: a redirect, or an error page with its status.
struct DashboardRedirect: Error { let location: String; var cookie: String? = nil }

/// Form bodies (`application/x-www-form-urlencoded`).
enum FormBody {
    static func parse(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = decode(parts[0])
            let value = parts.count > 1 ? decode(parts[1]) : ""
            if out[key] == nil { out[key] = value }
        }
        return out
    }

    static func decode(_ s: Substring) -> String {
        String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
    }
}

/// Times as the pages show them: `<time datetime="…Z" title="… UTC">`.
enum WebTime {
    static func fields(_ t: Double?) -> [String: Any]? {
        guard let t else { return nil }
        let d = Date(timeIntervalSince1970: t)
        let iso = d.formatted(.iso8601)
        var utc = iso.replacingOccurrences(of: "T", with: " ")
        if utc.hasSuffix("Z") { utc.removeLast() }
        return ["iso": iso, "utc": utc]
    }
}

/// The next= after sign-in: only a local path (`/…`, not `//…` nor `/\…`), else /pools. Printable
/// ASCII only (red team D8: raw UTF-8 went into the Location header, where browsers and proxies
/// each decode it their own way; the dashboard's own links are percent-encoded ASCII anyway).
func safeNext(_ raw: String?) -> String {
    guard let raw, raw.hasPrefix("/"), !raw.hasPrefix("//"), !raw.hasPrefix("/\\"), raw.count <= 512,
          !raw.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value > 0x7e || $0 == "\\" }) else { return "/pools" }
    return raw
}
