import ServiceLaunchers
import BalctlProtocol
@testable import ControlPlane
import TestSupport

/// The suite's named as the provider code sees it.
extension BINDServer {
    var key: TSIGKey { try! TSIGKey(bindKeyFile: keyText) }

    func provider(key: TSIGKey? = nil, zone: String = BINDServer.zone) throws -> RFC2136Provider {
        try RFC2136Provider(.init(server: IPv4("127.0.0.1")!, port: port, zone: zone, key: key ?? self.key,
                                  timeout: 1, attempts: 2))
    }
}
