import BitsCore
import BitsService
import Foundation
import XCTest

/// A network monitor that reports what the test says.
final class FakeNetworkMonitor: NetworkMonitoring, @unchecked Sendable {
    let report = Locked<(@Sendable (NetworkStatus) -> Void)?>(nil)
    func start(reporting report: @escaping @Sendable (NetworkStatus) -> Void) throws {
        self.report.with { $0 = report }
        report(NetworkStatus(available: true, metered: false))
    }
    func send(available: Bool) { report.current?(NetworkStatus(available: available, metered: false)) }
}

/// The daemon injects its network monitor into the queue manager (`NetworkMonitoring`); the
/// manager takes its reports in order.
final class NetworkMonitorInjectionTests: XCTestCase {
    func testReportsOfAnInjectedMonitorReachTheQueueInOrder() async throws {
        let monitor = FakeNetworkMonitor()
        let rig = await Rig(networkMonitor: monitor)
        await rig.restoreEmpty()
        let (id, _) = try await rig.runningJob()
        // A quick flip that ends with the network gone: the job ends up waiting for it.
        for _ in 0..<50 {
            monitor.send(available: false)
            monitor.send(available: true)
        }
        monitor.send(available: false)
        await rig.waitForState(id, .transientError)
        let job = await rig.job(id)
        XCTAssertEqual(job?.lastError?.code, .networkDisconnected)
    }
}
