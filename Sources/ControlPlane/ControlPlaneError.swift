/// A refusal with the HTTP status it maps to and a message for the person who caused it.
public struct ControlPlaneError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Int, Sendable {
        case badRequest = 400, unauthorized = 401, forbidden = 403, notFound = 404
        case conflict = 409, payloadTooLarge = 413
        case unavailable = 503, insufficientStorage = 507
    }
    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) { self.kind = kind; self.message = message }
    public var description: String { message }

    static func badRequest(_ m: String) -> Self { .init(.badRequest, m) }
    static func notFound(_ m: String) -> Self { .init(.notFound, m) }
    static func conflict(_ m: String) -> Self { .init(.conflict, m) }
    static func forbidden(_ m: String) -> Self { .init(.forbidden, m) }
    static func unauthorized(_ m: String) -> Self { .init(.unauthorized, m) }
}
