@testable import BitsService
import BitsCore
import BitsTransfer
import XCTest

/// The engine requests in flight: one id sequence for a job's transfers and the
/// Cancel-Sessions owed, each taken out once.
final class TransferTableTests: XCTestCase {
    func testTransfersAndCancelSessionsShareOneSequenceAndEndOnce() {
        var table = TransferTable()
        let job = JobID.random()
        let download = table.newID()
        table[download] = QueueManager.ActiveTransfer(jobID: job, fileIndex: 2)
        let cancel = table.owe(QueueManager.PendingCancel(url: "http://h/up", sessionID: "{s}", http: HTTPOptions(), attempt: 0))
        let packet = table.newID()
        XCTAssertEqual(Set([download, cancel, packet]).count, 3, "ids are never reused")
        XCTAssertNil(table[cancel], "a Cancel-Session is not a job's transfer")
        XCTAssertNil(table.answered(download), "a job's transfer is not a Cancel-Session")
        table[download]?.progressBase = 10
        XCTAssertEqual(table.all.count, 1)
        XCTAssertEqual(table.end(download)?.progressBase, 10)
        XCTAssertNil(table.end(download), "ended once")
        XCTAssertEqual(table.answered(cancel)?.sessionID, "{s}")
        XCTAssertNil(table.answered(cancel), "answered once")
    }
}
