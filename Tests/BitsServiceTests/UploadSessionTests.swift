@testable import BitsService
import BitsCore
import BitsTransfer
import XCTest

final class UploadSessionTests: XCTestCase {
    func file(size: UInt64 = 1000, acknowledged: UInt64 = 0, session: String? = nil, expectsReply: Bool = false) -> UploadSession.File {
        var state = UploadState(sourceSize: size, sourceModified: 1)
        state.sessionID = session
        return UploadSession.File(state: state, acknowledged: acknowledged, remoteName: "https://up.example/in/x",
                                  expectsReply: expectsReply)
    }

    func testANewUploadPingsCreatesASessionSendsFragmentsAndCloses() {
        var session = UploadSession(path: "/home/a/data.bin")
        var f = file(size: 3 << 20)
        XCTAssertEqual(session.start(f), .send(.ping))
        XCTAssertEqual(session.advance(.pinged, file: &f, elapsed: .milliseconds(10)).action, .send(.createSession))

        let created = session.advance(.sessionCreated(.init(id: "{s}", hostID: "h1")), file: &f, elapsed: .milliseconds(10))
        XCTAssertTrue(created.persist)
        XCTAssertEqual(f.state.sessionID, "{s}")
        XCTAssertEqual(f.state.hostID, "h1")
        guard case .send(.fragment("{s}", 0, let length, 3 << 20, "data.bin")) = created.action else {
            return XCTFail("\(created.action)")
        }

        let accepted = session.advance(.fragmentAccepted(nextOffset: length, complete: false, replyURL: nil), file: &f,
                                       elapsed: .milliseconds(100))
        XCTAssertEqual(f.acknowledged, length)
        XCTAssertTrue(accepted.progressed)
        XCTAssertTrue(accepted.checkpoint)
        XCTAssertFalse(accepted.persist)
        guard case .send(.fragment("{s}", length, _, 3 << 20, _)) = accepted.action else { return XCTFail("\(accepted.action)") }

        let last = session.advance(.fragmentAccepted(nextOffset: 3 << 20, complete: true, replyURL: nil), file: &f,
                                   elapsed: .milliseconds(100))
        XCTAssertEqual(last, UploadSession.Step(action: .send(.closeSession(sessionID: "{s}")), persist: true, progressed: true))
        XCTAssertEqual(session.advance(.sessionClosed, file: &f, elapsed: .zero).action, .finish)
    }

    func testResumingASessionContinuesFromTheAcknowledgedOffset() {
        var session = UploadSession(path: "/d/f")
        guard case .send(.fragment("{s}", 400, 600, 1000, "f")) = session.start(file(acknowledged: 400, session: "{s}")) else {
            return XCTFail()
        }
        var done = UploadSession(path: "/d/f")
        XCTAssertEqual(done.start(file(acknowledged: 1000, session: "{s}")), .send(.closeSession(sessionID: "{s}")))
    }

    func testAnUploadReplyJobDownloadsItsReplyBeforeClosing() {
        var session = UploadSession(path: "/d/f")
        var f = file(session: "{s}", expectsReply: true)
        _ = session.start(f)
        let step = session.advance(.fragmentAccepted(nextOffset: 1000, complete: true, replyURL: "/reply/1"), file: &f,
                                   elapsed: .zero)
        XCTAssertEqual(step.action, .downloadReply)
        XCTAssertEqual(f.state.replyURL, "https://up.example/reply/1")
        XCTAssertEqual(session.replyDone(f), .send(.closeSession(sessionID: "{s}")))
        // Restarted after the upload half: straight to the reply.
        var again = UploadSession(path: "/d/f")
        XCTAssertEqual(again.start(UploadSession.File(state: f.state, acknowledged: 1000, remoteName: f.remoteName,
                                                      expectsReply: true)), .downloadReply)
    }

    func testALostSessionStartsOverUnlessItHadEverything() {
        var session = UploadSession(path: "/d/f")
        var f = file(acknowledged: 300, session: "{s}")
        _ = session.start(f)
        let lost = session.advance(.sessionNotFound, file: &f, elapsed: .zero)
        XCTAssertEqual(lost, UploadSession.Step(action: .send(.createSession), persist: true, sessionLost: true))
        XCTAssertNil(f.state.sessionID)
        XCTAssertEqual(f.acknowledged, 0)

        var closing = UploadSession(path: "/d/f")
        var whole = file(acknowledged: 1000, session: "{s}")
        XCTAssertEqual(closing.start(whole), .send(.closeSession(sessionID: "{s}")))
        XCTAssertEqual(closing.advance(.sessionNotFound, file: &whole, elapsed: .zero).action, .finish)
    }

    func testFragmentsShrinkUntilTheSmallestIsRefused() {
        var session = UploadSession(path: "/d/big")
        var f = file(size: 64 << 20, session: "{s}")
        var action = session.start(f)
        var sizes: [UInt64] = []
        while case .send(.fragment(_, 0, let length, _, _)) = action, sizes.count < 64 {
            sizes.append(length)
            action = session.advance(.shrinkFragment, file: &f, elapsed: .zero).action
        }
        XCTAssertGreaterThan(sizes.count, 1)
        XCTAssertEqual(sizes, sizes.sorted(by: >), "each retry is smaller")
        guard case .fail(.classified(let failure)) = action else { return XCTFail("\(action)") }
        XCTAssertEqual(failure.code, .uploadTooLarge)
        XCTAssertEqual(failure.disposition, .fatal)
    }

    func testAServerThatLostBytesIsFollowed() {
        var session = UploadSession(path: "/d/f")
        var f = file(acknowledged: 500, session: "{s}")
        _ = session.start(f)
        guard case .send(.fragment("{s}", 200, _, 1000, _)) = session.advance(.resync(nextOffset: 200), file: &f, elapsed: .zero).action else {
            return XCTFail()
        }
        XCTAssertEqual(f.acknowledged, 200)
        XCTAssertEqual(session.advance(.resync(nextOffset: 1000), file: &f, elapsed: .zero).action,
                       .send(.closeSession(sessionID: "{s}")))
    }
}
