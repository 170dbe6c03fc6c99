import BalctlProtocol
import Foundation
import Testing

@Suite("JSONValue")
struct JSONValueTests {
    func decode(_ text: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    func encode(_ value: JSONValue) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    @Test("a nested value survives encode → decode unchanged")
    func roundTrip() throws {
        let value: JSONValue = .object([
            "null": .null, "yes": .bool(true), "no": .bool(false), "int": .number(42),
            "neg": .number(-7), "frac": .number(2.5), "text": .string("héllo \"quoted\"\n"),
            "list": .array([.number(1), .string("two"), .array([]), .object([:])]),
            "nested": .object(["deep": .object(["deeper": .array([.null, .bool(true)])])]),
        ])
        let data = try JSONEncoder().encode(value)
        let back = try JSONDecoder().decode(JSONValue.self, from: data)
        #expect(back == value)
    }

    @Test("decoding tells booleans, numbers, strings, arrays, objects and null apart")
    func decodesEachKind() throws {
        #expect(try decode("true") == .bool(true))
        #expect(try decode("false") == .bool(false))
        #expect(try decode("1") == .number(1))
        #expect(try decode("0") == .number(0))
        #expect(try decode("-3.25") == .number(-3.25))
        #expect(try decode("\"1\"") == .string("1"))
        #expect(try decode("null") == .null)
        #expect(try decode("[1, \"a\", null]") == .array([.number(1), .string("a"), .null]))
        #expect(try decode("{\"a\": {\"b\": false}}") == .object(["a": .object(["b": .bool(false)])]))
    }

    @Test("whole numbers encode without a fraction, other numbers keep theirs")
    func integerEncoding() throws {
        #expect(try encode(.number(3)) == "3")
        #expect(try encode(.number(-12)) == "-12")
        #expect(try encode(.number(0)) == "0")
        #expect(try encode(.number(1_700_000_000)) == "1700000000")
        #expect(try encode(.number(2.5)) == "2.5")
        #expect(try encode(.object(["id": .number(7), "ratio": .number(0.25)])) == "{\"id\":7,\"ratio\":0.25}")
        #expect(JSONValue.array([.number(1), .bool(true), .null]).jsonString() == "[1,true,null]")
        #expect(JSONValue.object(["id": .number(12)]).jsonString() == "{\"id\":12}")
        // Beyond the exact-integer range the value still round-trips as a number.
        let big = JSONValue.number(1e300)
        #expect(try decode(try encode(big)) == big)
    }

    @Test("accessors and typed decode/encode")
    func accessorsAndTyped() throws {
        struct Params: Codable, Equatable { var name: String; var count: Int; var tags: [String]? }
        let v: JSONValue = .object(["name": .string("x"), "count": .number(3)])
        #expect(v["name"]?.stringValue == "x")
        #expect(v["count"]?.doubleValue == 3)
        #expect(v["missing"] == nil)
        #expect(JSONValue.string("x")["name"] == nil)
        #expect(JSONValue.bool(true).boolValue == true)
        #expect(JSONValue.number(1).boolValue == nil)
        #expect(JSONValue.string("1").doubleValue == nil)
        #expect(try v.decode(as: Params.self) == Params(name: "x", count: 3, tags: nil))
        let back = try JSONValue.from(Params(name: "y", count: 9, tags: ["a"]))
        #expect(back == .object(["name": .string("y"), "count": .number(9), "tags": .array([.string("a")])]))
        #expect(JSONValue.emptyObject == .object([:]))
    }
}

@Suite("DecodingError.balctlReason")
struct DecodingReasonTests {
    struct Inner: Decodable { var port: Int }
    struct Outer: Decodable {
        var name: String
        var inner: Inner
        var items: [Int]
    }

    func reason(_ text: String) throws -> String {
        do {
            _ = try JSONDecoder().decode(Outer.self, from: Data(text.utf8))
        } catch let e as DecodingError {
            return e.balctlReason
        }
        Issue.record("decoding \(text) did not fail")
        return ""
    }

    @Test("a missing top-level key names the key, with no path")
    func missingTopLevel() throws {
        #expect(try reason(#"{"inner": {"port": 1}, "items": []}"#) == "missing key 'name'")
    }

    @Test("a missing nested key names the key and where it was missing")
    func missingNested() throws {
        #expect(try reason(#"{"name": "a", "inner": {}, "items": []}"#) == "missing key 'port' in inner")
    }

    @Test("a wrong type names the path and the expected type")
    func wrongType() throws {
        #expect(try reason(#"{"name": 5, "inner": {"port": 1}, "items": []}"#) == "wrong type at name: expected String")
        #expect(try reason(#"{"name": "a", "inner": {"port": "80"}, "items": []}"#) == "wrong type at inner.port: expected Int")
        let inArray = try reason(#"{"name": "a", "inner": {"port": 1}, "items": [1, "two"]}"#)
        #expect(inArray.hasPrefix("wrong type at items"))
        #expect(inArray.contains("[1]"))
        #expect(inArray.hasSuffix("expected Int"))
    }

    @Test("null where a value is required")
    func nullValue() throws {
        #expect(try reason(#"{"name": null, "inner": {"port": 1}, "items": []}"#) == "null at name: expected String")
    }

    @Test("text that is not JSON at all is called malformed")
    func malformed() throws {
        let r = try reason("{not json")
        #expect(r.hasPrefix("malformed JSON: "))
        #expect(r.count > "malformed JSON: ".count)
        #expect(try reason("").hasPrefix("malformed JSON"))
    }
}
