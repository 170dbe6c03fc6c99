import AgentKernel

/// ssh.disable's "only way in" rule. The agent itself is outbound-only (it polls the control
/// plane; nothing connects to it), so stopping sshd removes every interactive way in that this
/// host can see — unless another remote console listens on a non-loopback address: a TCP
/// listener on one of `otherAccessPorts` (RDP 3389, VNC 5900, Cockpit 9090 by default) in
/// /proc/net/tcp or tcp6. A provider's out-of-band console is invisible from inside the host, so
/// it never counts: the operator says so with `confirm: true`.
enum OtherAccess {
    /// The ports from `ports` that have a listener on a non-loopback address.
    static func listening(procNetDir: String, ports: [Int]) -> [Int] {
        var found: [Int] = []
        for file in ["tcp", "tcp6"] {
            guard let bytes = try? Files.readBytes(procNetDir + "/" + file, limit: 16 << 20) else { continue }
            for port in parse(String(decoding: bytes, as: UTF8.self)) where ports.contains(port) && !found.contains(port) {
                found.append(port)
            }
        }
        return found.sorted()
    }

    /// The local ports of non-loopback LISTEN sockets in a /proc/net/tcp{,6} table.
    static func parse(_ text: String) -> [Int] {
        var out: [Int] = []
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: " ")
            // sl local_address rem_address st …
            guard f.count > 3, f[3] == "0A" else { continue }
            let local = f[1].split(separator: ":")
            // The kernel prints the port as exactly four hex digits and the address as 8 (IPv4) or
            // 32 (IPv6); anything else is not its line (Int(radix:) alone takes "-1" or "1D3D0").
            func hex(_ s: Substring) -> Bool { s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 70) || ($0 >= 97 && $0 <= 102) } }
            guard local.count == 2, local[1].utf8.count == 4, hex(local[1]), let port = Int(local[1], radix: 16),
                  local[0].utf8.count == 8 || local[0].utf8.count == 32, hex(local[0]) else { continue }
            let addr = local[0]
            // IPv4 is printed as a little-endian word: the last two digits are the first octet.
            if addr.count == 8, addr.hasSuffix("7F") { continue }
            if addr == "00000000000000000000000001000000" { continue }
            if addr.count == 32, addr.hasPrefix("0000000000000000FFFF0000"), addr.hasSuffix("7F") { continue }
            out.append(port)
        }
        return out
    }
}
