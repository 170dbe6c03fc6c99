import BalctlProtocol
import Testing

@Suite("IPv4 and CIDR")
struct NetworkTests {
    @Test("well-formed dotted quads parse to the right value and print back unchanged")
    func parsesDottedQuads() throws {
        let ip = try #require(IPv4("203.0.113.7"))
        #expect(ip.value == (203 << 24 | 0 << 16 | 113 << 8 | 7))
        #expect(ip.description == "203.0.113.7")
        #expect(IPv4("0.0.0.0")?.value == 0)
        #expect(IPv4("255.255.255.255")?.value == UInt32.max)
        #expect(IPv4("10.0.0.1") == IPv4(value: 0x0A00_0001))
        // Works on substrings too (the allow-list parser splits a comma list).
        let list = "1.2.3.4,5.6.7.8"
        #expect(list.split(separator: ",").compactMap { IPv4($0) }.map(\.description) == ["1.2.3.4", "5.6.7.8"])
    }

    @Test("strict parsing refuses leading zeros, octets > 255, spaces and wrong octet counts",
          arguments: [
              "01.2.3.4", "1.2.3.04", "00.1.2.3", "1.2.3.00", "010.0.0.1",
              "256.1.1.1", "1.2.3.999", "1.300.3.4", "1234.1.1.1",
              " 1.2.3.4", "1.2.3.4 ", "1. 2.3.4", "1.2 .3.4", "1.2.3.4\n",
              "1.2.3", "1.2.3.4.5", "1..2.3", ".1.2.3", "1.2.3.", "",
              "a.b.c.d", "+1.2.3.4", "1.2.3.-4", "0x1.2.3.4", "１.2.3.4", "1.2.3.4/32",
          ])
    func refusesMalformed(_ text: String) {
        #expect(IPv4(text) == nil, "\(text.debugDescription) must be refused")
    }

    @Test("isPublic is false for private, loopback, link-local, CGNAT, documentation, multicast and reserved space",
          arguments: [
              "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.255",
              "127.0.0.1", "127.255.0.1", "169.254.1.1", "172.16.0.1", "172.31.255.255",
              "192.0.0.8", "192.0.2.5", "192.168.0.1", "192.168.255.255", "198.18.0.1",
              "198.19.255.255", "198.51.100.7", "203.0.113.7", "224.0.0.1", "239.255.255.255",
              "240.0.0.1", "255.255.255.255",
          ])
    func notPublic(_ text: String) throws {
        let ip = try #require(IPv4(text))
        #expect(!ip.isPublic, "\(text) must not count as public")
    }

    @Test("isPublic is true for routable addresses, including those just outside the blocked ranges",
          arguments: [
              "8.8.8.8", "1.1.1.1", "11.0.0.1", "100.63.255.255", "100.128.0.0", "126.255.255.255",
              "128.0.0.1", "169.253.255.255", "172.15.255.255", "172.32.0.0", "192.0.3.1",
              "192.167.255.255", "192.169.0.0", "198.17.255.255", "198.20.0.0", "198.51.101.1",
              "203.0.112.255", "203.0.114.0", "223.255.255.255",
          ])
    func isPublic(_ text: String) throws {
        let ip = try #require(IPv4(text))
        #expect(ip.isPublic, "\(text) must count as public")
    }

    @Test("CIDR parse masks the base and contains exactly its range")
    func cidrContains() throws {
        let net = try #require(CIDR("10.1.2.3/8"))
        #expect(net.prefix == 8)
        #expect(net.base.description == "10.0.0.0")
        #expect(net.description == "10.0.0.0/8")
        #expect(net.contains(IPv4("10.0.0.0")!))
        #expect(net.contains(IPv4("10.255.255.255")!))
        #expect(!net.contains(IPv4("11.0.0.0")!))
        #expect(!net.contains(IPv4("9.255.255.255")!))

        let twelve = try #require(CIDR("172.16.0.0/12"))
        #expect(twelve.contains(IPv4("172.31.255.255")!))
        #expect(!twelve.contains(IPv4("172.32.0.0")!))
    }

    @Test("/0 contains everything, /32 and a bare address only themselves")
    func cidrEdges() throws {
        let all = try #require(CIDR("0.0.0.0/0"))
        #expect(all.prefix == 0)
        for text in ["0.0.0.0", "8.8.8.8", "255.255.255.255", "10.0.0.1"] {
            #expect(all.contains(IPv4(text)!))
        }
        // A /0 written with another base still means "everything".
        #expect(CIDR("192.168.1.1/0")?.contains(IPv4("1.2.3.4")!) == true)

        let host = try #require(CIDR("203.0.113.7/32"))
        #expect(host.contains(IPv4("203.0.113.7")!))
        #expect(!host.contains(IPv4("203.0.113.6")!))
        #expect(!host.contains(IPv4("203.0.113.8")!))

        let bare = try #require(CIDR("203.0.113.7"))
        #expect(bare.prefix == 32)
        #expect(bare == host)

        let thirtyOne = try #require(CIDR("203.0.113.7/31"))
        #expect(thirtyOne.contains(IPv4("203.0.113.6")!))
        #expect(!thirtyOne.contains(IPv4("203.0.113.8")!))
    }

    @Test("bad prefixes and bad addresses are refused",
          arguments: [
              "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/", "10.0.0.0/8/8", "10.0.0.0/008",
              "10.0.0.0/x", "10.0.0.0/ 8", "10.0.0.0/+8", "0.0.0.0/-0", "/8", "10.0.0/8",
              "010.0.0.0/8", "10.0.0.0 /8",
          ])
    func cidrRefused(_ text: String) {
        #expect(CIDR(text) == nil, "\(text.debugDescription) must be refused")
    }
}
