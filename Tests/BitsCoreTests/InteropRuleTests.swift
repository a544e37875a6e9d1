import Foundation
import XCTest

/// The C interop rule of docs/architecture.md ("C interop") holds: scripts/check-interop.sh
/// finds GLib only in BitsDBus, curl only in the Curl* files and raw system calls only in
/// BitsSystem (or on its allowlists, each with a reason).
final class InteropRuleTests: XCTestCase {
    func testCInteropStaysConfined() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let script = root.appendingPathComponent("scripts/check-interop.sh")
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: script.path), "no source tree at \(root.path)")
        let process = Process()
        process.executableURL = script
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, text)
    }
}
