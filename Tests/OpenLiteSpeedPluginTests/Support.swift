import AgentKernel
import BalctlProtocol
import Foundation
import Testing
import TestSupport
@testable import OpenLiteSpeedPlugin

struct TestError: Error, CustomStringConvertible { var description: String; init(_ d: String) { description = d } }

extension FakeOLS {
    var settings: OLSSettings { OLSSettings(serverRoot: root, stateDir: root + "/state") }
}

extension OLSConfigFile {
    init(_ text: String) throws { try self.init(bytes: Array(text.utf8)) }
}
