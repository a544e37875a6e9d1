import Foundation
import XCTest

/// bitsd is self-contained (issue 17): the interface XML is compiled in, so the binary alone,
/// copied into an empty directory, starts on the bus and answers, introspection included.
/// `--interface-directory` still overrides the XML compiled in.
final class StandaloneBinaryTests: BitsTestCase {
    override class var needsDaemon: Bool { false }

    private func standaloneDaemon(_ name: String) throws -> BitsDaemon {
        let built = BitsDaemon.locateBinary()
        guard let source = built.path else { throw HarnessError("bitsd binary not found; looked at \(built.searched)") }
        let directory = "\(env.directory)/\(name)-bin"
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let binary = "\(directory)/bitsd"
        try FileManager.default.copyItem(atPath: source, toPath: binary)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["bitsd"])
        // The harness gives children a minimal environment: no BITSD_INTERFACE_DIR either.
        return try BitsDaemon(env: env, name: name, binary: binary)
    }

    func testTheBinaryAloneStartsAndAnswers() throws {
        let daemon = try standaloneDaemon("standalone")
        try daemon.start()
        defer { daemon.stop() }

        let version = try property(as: bob, BitsNames.managerPath, BitsNames.manager, "Version")
        XCTAssertFalse(version.string?.isEmpty ?? true, "Version: \(version)")
        let introspection = try call(as: bob, BitsNames.managerPath, "org.freedesktop.DBus.Introspectable", "Introspect")
        let xml = introspection.first?.string ?? ""
        XCTAssertTrue(xml.contains(#"<method name="CreateJob">"#), "Introspect: \(introspection)")
        XCTAssertTrue(xml.contains(#"<property type="u" name="MaxJobsPerUser" access="read">"#), "Introspect: \(introspection)")

        let job = try createJob(as: bob, name: "standalone")
        let jobXML = try call(as: bob, job, "org.freedesktop.DBus.Introspectable", "Introspect").first?.string ?? ""
        XCTAssertTrue(jobXML.contains(#"<property type="u" name="MinimumRetryDelay" access="readwrite">"#), jobXML)
        try mustSetProperty(as: bob, job, "MinimumRetryDelay", type: "u", value: 120)
        XCTAssertEqual(try property(as: bob, job, "MinimumRetryDelay").uint64, 120)
        try cancel(as: bob, job: job)
        XCTAssertTrue(daemon.isRunning, daemon.logTail())
    }

    func testInterfaceDirectoryStillOverrides() throws {
        let daemon = try standaloneDaemon("override")
        daemon.extraArguments = ["--interface-directory", "\(TestEnvironment.repoRoot)/dbus"]
        try daemon.start()
        let version = try property(as: bob, BitsNames.managerPath, BitsNames.manager, "Version")
        XCTAssertFalse(version.string?.isEmpty ?? true, "Version: \(version)")
        daemon.stop()

        // A directory without the interface files: the daemon refuses to start, naming it.
        let empty = "\(env.directory)/override-empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        daemon.extraArguments = ["--interface-directory", empty]
        XCTAssertThrowsError(try daemon.start(timeout: 5)) { error in
            XCTAssertTrue("\(error)".contains("cannot read interface file \(empty)/org.example.Bits.Manager.xml"), "\(error)")
        }
    }
}
