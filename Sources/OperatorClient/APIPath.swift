/// A path under the operator API prefix, built from segments that are each percent-encoded, so
/// an argument such as a recipe id `a b`, `x/y` or `..` stays one segment of the URL instead of
/// breaking it (or being folded away as a dot segment). The client takes only this type, so no
/// path can be glued together from raw strings.
public struct APIPath: Sendable, CustomStringConvertible, Equatable {
    public let description: String

    public init(_ segments: any CustomStringConvertible...) {
        description = segments.map { "/" + Self.encode($0.description, dotsToo: true) }.joined()
    }

    private init(raw: String) { description = raw }

    /// The same path with `name=value` appended to its query; a nil value adds nothing.
    public func query(_ name: String, _ value: (any CustomStringConvertible)?) -> APIPath {
        guard let value else { return self }
        let separator = description.contains("?") ? "&" : "?"
        return APIPath(raw: description + separator + Self.encode(name, dotsToo: false) + "="
                       + Self.encode(value.description, dotsToo: false))
    }

    /// RFC 3986 unreserved characters stay; every other byte of the UTF-8 becomes %XX. A segment
    /// made only of dots is encoded whole: libcurl would otherwise resolve `.` and `..`.
    static func encode(_ text: String, dotsToo: Bool) -> String {
        let allDots = dotsToo && !text.isEmpty && text.allSatisfy { $0 == "." }
        var out = ""
        for byte in text.utf8 {
            let c = Character(Unicode.Scalar(byte))
            let unreserved = byte < 0x80 && (c.isLetter || c.isNumber || c == "-" || c == "_" || c == "~" || c == ".")
            if unreserved && !(allDots && c == ".") {
                out.append(c)
            } else {
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}

private extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
