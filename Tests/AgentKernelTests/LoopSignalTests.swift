@testable import AgentKernel
import Foundation
import Testing

/// The heartbeat loop's sleep: ended at once by a wake or a restart, by cancellation (SIGTERM),
/// and otherwise by its time.
@Suite struct LoopSignalTests {
    @Test("a raise before the sleep ends it at once; lower re-arms; a raise during it ends it; time ends it otherwise")
    func raiseAndTimeout() async {
        let s = LoopSignal()
        s.raise()
        var t = ContinuousClock.now
        await s.sleep(10)
        #expect(ContinuousClock.now - t < .milliseconds(200))
        s.lower()
        t = ContinuousClock.now
        await s.sleep(0.2)
        #expect(ContinuousClock.now - t >= .milliseconds(190))
        s.lower()
        let raiser = Task { try? await Task.sleep(for: .milliseconds(100)); s.raise() }
        t = ContinuousClock.now
        await s.sleep(10)
        #expect(ContinuousClock.now - t < .seconds(2))
        _ = await raiser.value
        #expect(s.isRaised)
    }

    @Test("cancelling the sleeping task ends the sleep at once")
    func cancellation() async {
        let s = LoopSignal()
        let t = ContinuousClock.now
        let sleeper = Task { await s.sleep(30) }
        try? await Task.sleep(for: .milliseconds(100))
        sleeper.cancel()
        await sleeper.value
        #expect(ContinuousClock.now - t < .seconds(2))
        // Cancelled before it even started sleeping: returns at once too.
        let early = Task { await s.sleep(30) }
        early.cancel()
        await early.value
        #expect(ContinuousClock.now - t < .seconds(3))
    }
}
