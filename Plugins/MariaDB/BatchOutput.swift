/// The `mariadb --batch --skip-column-names` output: one row per line, fields separated by tabs,
/// and inside a field `\\`, `\t`, `\n` and `\0` escaped (so a value cannot break a row). Bounded:
/// at most `maxRows` rows and `maxFields` fields a row are kept; the rest is dropped, never an
/// error (the caller decides whether a short answer matters). Fuzzed in the tests.
public enum BatchOutput {
    public static func parse(_ bytes: [UInt8], maxRows: Int = 100_000, maxFields: Int = 64) -> [[String]] {
        var rows: [[String]] = []
        var fields: [String] = []
        var field: [UInt8] = []
        var escaped = false
        var tooMany = false
        func endField() {
            if fields.count < maxFields { fields.append(String(decoding: field, as: UTF8.self)) } else { tooMany = true }
            field.removeAll(keepingCapacity: true)
        }
        for b in bytes {
            if rows.count >= maxRows { break }
            if escaped {
                escaped = false
                switch b {
                case UInt8(ascii: "t"): field.append(9)
                case UInt8(ascii: "n"): field.append(10)
                case UInt8(ascii: "0"): field.append(0)
                case UInt8(ascii: "\\"): field.append(0x5C)
                default: field.append(0x5C); field.append(b)
                }
                continue
            }
            switch b {
            case 0x5C: escaped = true
            case 9: endField()
            case 10:
                endField()
                rows.append(fields)
                fields.removeAll(keepingCapacity: true)
            default: field.append(b)
            }
        }
        // A last line without its newline still counts.
        if rows.count < maxRows && (!field.isEmpty || !fields.isEmpty) {
            endField()
            rows.append(fields)
        }
        _ = tooMany
        return rows
    }
}
