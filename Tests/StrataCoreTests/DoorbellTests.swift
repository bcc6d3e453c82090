import Foundation
import StrataCore
import Testing

@Suite struct DoorbellTests {
    @Test(.timeLimit(.minutes(1)))
    func aRingBeforeTheWaitIsRememberedOnce() async {
        let doorbell = Doorbell()
        doorbell.ring()
        doorbell.ring()
        let clock = ContinuousClock()
        let first = await clock.measure { await doorbell.wait(timeout: .seconds(30)) }
        #expect(first < .seconds(5))
        let second = await clock.measure { await doorbell.wait(timeout: .milliseconds(200)) }
        #expect(second >= .milliseconds(150))
    }

    @Test(.timeLimit(.minutes(1)))
    func aRingWakesTheWaiterBeforeItsTimeout() async {
        let doorbell = Doorbell()
        let clock = ContinuousClock()
        let started = clock.now
        async let waited: Void = doorbell.wait(timeout: .seconds(30))
        try? await Task.sleep(for: .milliseconds(100))
        doorbell.ring()
        await waited
        #expect(started.duration(to: clock.now) < .seconds(10))
    }

    @Test(.timeLimit(.minutes(1)))
    func cancellingTheWaiterEndsTheWait() async {
        let doorbell = Doorbell()
        let clock = ContinuousClock()
        let started = clock.now
        let waiter = Task { await doorbell.wait(timeout: .seconds(30)) }
        try? await Task.sleep(for: .milliseconds(100))
        waiter.cancel()
        await waiter.value
        #expect(started.duration(to: clock.now) < .seconds(10))
    }

    /// Early rings leave nothing behind that waits for the timeout: the resident memory stays flat
    /// over many waits whose timers would fire only in a minute.
    @Test(.timeLimit(.minutes(1)))
    func earlyRingsLeaveNoTimersBehind() async {
        let doorbell = Doorbell()
        func residentBytes() -> Int {
            let statm = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? ""
            let pages = statm.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
            return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
        }
        func ringEarly(_ times: Int) async {
            for _ in 0..<times {
                async let waited: Void = doorbell.wait(timeout: .seconds(60))
                await Task.yield()
                doorbell.ring()
                await waited
            }
        }
        await ringEarly(1_000)
        // Other tests run beside this one in the process: the least growth of three rounds counts.
        var growth: [Int] = []
        for _ in 0..<3 {
            let before = residentBytes()
            await ringEarly(50_000)
            growth.append(residentBytes() - before)
        }
        // A timer left behind per wait costs about 700 bytes: 35 MB a round.
        #expect(growth.min()! < 16_000_000, "resident memory grew by \(growth) bytes in rounds of 50,000 early-rung waits")
    }
}
