@testable import BitsClient
import Foundation
import XCTest

final class SnapshotTests: XCTestCase {
    let jobs = "/org/example/Bits/jobs/"
    lazy var mineLate = jobs + "aaaa0000000000000000000000000000"   // mine, created at 200
    lazy var theirs = jobs + "bbbb0000000000000000000000000000"     // another uid, created at 100
    lazy var mineEarlyB = jobs + "cccc0000000000000000000000000000" // mine, created at 100
    lazy var mineEarlyA = jobs + "0000ffff000000000000000000000000" // mine, created at 100, path sorts first
    let me = getuid()
    var other: UInt32 { me == 0 ? 1000 : 0 }

    /// One object of `GetManagedObjects`: its interfaces and their properties.
    func object(_ path: String, _ interfaces: [(String, [(String, Variant)])]) -> (Variant, Variant) {
        (.objectPath(path),
         .dictionary(keyType: "s", valueType: "a{sv}", interfaces.map { (.string($0.0), .vardict($0.1)) }))
    }

    func job(_ path: String, owner: UInt32, created: UInt64, name: String, files: [String]) -> (Variant, Variant) {
        object(path, [
            ("org.freedesktop.DBus.Properties", []),
            ("org.example.Bits.Job", [("Owner", .uint32(owner)), ("CreationTime", .uint64(created)),
                                      ("DisplayName", .string(name)), ("State", .string("suspended")),
                                      ("Files", .objectPaths(files))]),
        ])
    }

    func file(_ path: String, remote: String) -> (Variant, Variant) {
        object(path, [("org.example.Bits.File", [("RemoteName", .string(remote)), ("BytesTotal", .uint64(UInt64.max))])])
    }

    var managedObjects: Variant {
        .dictionary(keyType: "o", valueType: "a{sa{sv}}", [
            object("/org/example/Bits", [("org.example.Bits.Manager", [("Version", .string("1.0"))])]),
            file(mineLate + "/files/0", remote: "https://e/late0"),
            job(mineLate, owner: me, created: 200, name: "late", files: [mineLate + "/files/1", mineLate + "/files/0"]),
            job(theirs, owner: other, created: 100, name: "theirs", files: [theirs + "/files/0"]),
            file(theirs + "/files/0", remote: "https://e/theirs0"),
            job(mineEarlyB, owner: me, created: 100, name: "earlyB", files: []),
            file(mineLate + "/files/1", remote: "https://e/late1"),
            // Listed by a job but gone from the reply (removed in between): skipped.
            job(mineEarlyA, owner: me, created: 100, name: "earlyA", files: [mineEarlyA + "/files/0"]),
            // A file no job lists: ignored.
            file(jobs + "dddd0000000000000000000000000000/files/0", remote: "https://e/orphan"),
            // Not a dictionary of interfaces: ignored.
            (.objectPath(jobs + "eeee0000000000000000000000000000"), .string("garbage")),
        ])
    }

    func testOnlyTheCallersJobsInCreationOrder() {
        let snapshot = BitsClient.snapshot(fromManagedObjects: managedObjects, allUsers: false)
        XCTAssertEqual(snapshot.map(\.job.path), [mineEarlyA, mineEarlyB, mineLate])
        XCTAssertEqual(snapshot.map(\.job.displayName), ["earlyA", "earlyB", "late"])
        XCTAssertTrue(snapshot.allSatisfy { $0.job.owner == me })
    }

    func testAllUsers() {
        let snapshot = BitsClient.snapshot(fromManagedObjects: managedObjects, allUsers: true)
        XCTAssertEqual(snapshot.map(\.job.path), [mineEarlyA, theirs, mineEarlyB, mineLate])
        XCTAssertEqual(snapshot[1].job.owner, other)
        XCTAssertEqual(snapshot[1].files.map(\.remoteName), ["https://e/theirs0"])
    }

    func testFilesComeInTheJobsOrder() throws {
        let snapshot = BitsClient.snapshot(fromManagedObjects: managedObjects, allUsers: false)
        let late = try XCTUnwrap(snapshot.last)
        XCTAssertEqual(late.job.files, [mineLate + "/files/1", mineLate + "/files/0"])
        XCTAssertEqual(late.files.map(\.path), [mineLate + "/files/1", mineLate + "/files/0"])
        XCTAssertEqual(late.files.map(\.remoteName), ["https://e/late1", "https://e/late0"])
        XCTAssertEqual(late.files.map(\.index), [1, 0])
        XCTAssertTrue(late.files.allSatisfy { $0.bytesTotal == nil })
        XCTAssertEqual(snapshot[0].job.files, [mineEarlyA + "/files/0"])
        XCTAssertEqual(snapshot[0].files, [], "a listed file missing from the reply is skipped")
        XCTAssertEqual(snapshot[1].files, [])
    }

    func testPropertiesAreDecoded() {
        let snapshot = BitsClient.snapshot(fromManagedObjects: managedObjects, allUsers: false)
        XCTAssertEqual(snapshot.map(\.job.creationTime), [100, 100, 200])
        XCTAssertTrue(snapshot.allSatisfy { $0.job.state == .suspended })
    }

    func testNotAReply() {
        XCTAssertEqual(BitsClient.snapshot(fromManagedObjects: nil, allUsers: true), [])
        XCTAssertEqual(BitsClient.snapshot(fromManagedObjects: .string("x"), allUsers: true), [])
        XCTAssertEqual(BitsClient.snapshot(fromManagedObjects: .dictionary(keyType: "o", valueType: "a{sa{sv}}", []),
                                           allUsers: true), [])
    }
}
