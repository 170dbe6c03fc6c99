@testable import OperatorClient
import Testing

/// issue 14: `balctl backups quota --set 10G` and the snapshot argument, checked before sending.
@Suite struct BackupArgumentsTests {
    static let sizeCases: [(String, Int64)] = [
        ("0", 0), ("1048576", 1_048_576), ("512B", 512), ("1K", 1024), ("1k", 1024), ("500M", 500 << 20),
        ("10G", 10 << 30), ("10g", 10 << 30), ("2GiB", 2 << 30), ("2GB", 2 << 30), ("2Gi", 2 << 30), ("1T", 1 << 40),
        ("1.5G", 3 << 29), ("0.5K", 512), ("0.1K", 102), ("1.5", 1), (" 10G ", 10 << 30), ("10 G", 10 << 30),
        ("8388607T", 8_388_607 << 40), ("9223372036854775807", Int64.max),
    ]

    @Test("sizes: bytes, K/M/G/T as powers of 1024, optional iB/B, case, decimals rounded down", arguments: sizeCases)
    func sizes(text: String, expected: Int64) throws {
        #expect(try BackupArguments.bytes(text) == expected)
    }

    @Test("not sizes: empty, signs, other units, exponent, stray dots, iB without a unit", arguments: [
        "", "G", "B", "KB", "-1G", "+1G", "10X", "10P", "1e9", "1.", ".5G", "1.2.3G", "10iB", "ten", "1,5G", "0x10",
        "1.0000000001G", "١٠G",
    ])
    func notSizes(text: String) {
        #expect(throws: BackupArguments.Invalid.self) { try BackupArguments.bytes(text) }
    }

    @Test("sizes past Int64.max are refused as too large, not wrapped", arguments: [
        "8388608T", "9223372036854775808", "99999999999999999999G",
    ])
    func tooLarge(text: String) {
        do {
            let n = try BackupArguments.bytes(text)
            Issue.record("\(text) parsed as \(n)")
        } catch {
            #expect("\(error)".contains("too large"), "\(error)")
        }
    }

    @Test("snapshot IDs: 32 lowercase hex accepted; anything else refused with a clear reason")
    func snapshotIDs() throws {
        let good = "0123456789abcdef0123456789abcdef"
        #expect(try BackupArguments.snapshotID(good) == good)
        for bad in ["", "abc", good.uppercased(), good + "0", String(good.dropLast()), "0123456789abcdef0123456789abcdeg",
                    "../../../../../../../../../etc/x", String(repeating: "a", count: 31) + "é", "0123456789abcdef 123456789abcdef"] {
            do {
                _ = try BackupArguments.snapshotID(bad)
                Issue.record("\(bad) accepted")
            } catch let e as BackupArguments.Invalid {
                #expect(e.description.contains("32 lowercase hex"), "\(e)")
            }
        }
    }
}
