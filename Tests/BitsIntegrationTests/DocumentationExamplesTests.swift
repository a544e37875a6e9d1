import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The example programs under `examples/` that the README and docs/clients.md show, run exactly
/// as written by an ordinary user (alice) against the test daemon on the private system bus.
final class DocumentationExamplesTests: BitsTestCase {

    func testBusctlDownload() throws {
        try checkDownload(example: "busctl-download.sh")
    }

    func testPythonDownload() throws {
        try checkDownload(example: "python-download.py")
    }

    func testBusctlDownloadOf404FailsAndCancels() throws {
        try checkFailedDownload(example: "busctl-download.sh")
    }

    func testPythonDownloadOf404FailsAndCancels() throws {
        try checkFailedDownload(example: "python-download.py")
    }

    /// The Swift example app (`examples/swift-download`, product `bits-example-download`).
    func testSwiftExampleDownload() throws {
        let dir = try downloadDirectory(alice, "example-swift")
        let dest = "\(dir)/medium.bin"
        let before = try allJobs()
        let (binary, searched) = BitsDaemon.locateBinary("bits-example-download")
        let program = try XCTUnwrap(binary, "bits-example-download not built; looked at \(searched)")
        let r = try ProcessRunner.run([program, http.url("/medium.bin", [("rate", "2000000")]), dest], as: alice,
                                      environment: ["DBUS_SYSTEM_BUS_ADDRESS": env.address], timeout: 60, cwd: alice.home)
        XCTAssertTrue(r.succeeded, r.summary)
        XCTAssertTrue(r.stdout.contains("saved \(dest) (1048576 bytes)"), r.summary)
        XCTAssertTrue(r.stdout.contains("/ 1048576 bytes"), "no progress printed: \(r.summary)")
        XCTAssertEqual(try? TestFiles.sha256(dest), env.files["medium.bin"]?.sha256)
        XCTAssertEqual(TestFiles.listing(dir), ["medium.bin"])
        try assertNoNewJobs(since: before, "bits-example-download", file: #filePath, line: #line)

        let failed = try ProcessRunner.run([program, http.url("/absent.bin"), "\(dir)/absent.bin"], as: alice,
                                           environment: ["DBUS_SYSTEM_BUS_ADDRESS": env.address], timeout: 60, cwd: alice.home)
        XCTAssertEqual(failed.status, 1, failed.summary)
        XCTAssertTrue(failed.stdout.contains("failed: http-404"), failed.summary)
        try assertNoNewJobs(since: before, "bits-example-download (404)", file: #filePath, line: #line)
    }

    /// The bitsctl session the README shows, with the built bitsctl first on PATH.
    func testBitsctlSession() throws {
        let dir = try downloadDirectory(alice, "example-bitsctl")
        let before = try allJobs()
        let bitsctl = try bitsctlBinary()
        let bin = "\(env.directory)/example-bin"
        try? FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        chmod(bin, 0o755)
        try? FileManager.default.removeItem(atPath: "\(bin)/bitsctl")
        try FileManager.default.createSymbolicLink(atPath: "\(bin)/bitsctl", withDestinationPath: bitsctl)
        let r = try runExample("bitsctl-session.sh", http.url("/medium.bin"), dir,
                               environment: ["PATH": "\(bin):/usr/local/bin:/usr/bin:/bin"])
        XCTAssertTrue(r.succeeded, r.summary)
        XCTAssertTrue(r.stderr.contains("Transferred 1 file(s), 1.00 MiB"), r.summary)
        XCTAssertTrue(r.stdout.contains("\"nightly mirror\""), "list did not show the job: \(r.summary)")
        XCTAssertEqual(try? TestFiles.sha256("\(dir)/now.bin"), env.files["medium.bin"]?.sha256)
        XCTAssertEqual(try? TestFiles.sha256("\(dir)/later.bin"), env.files["medium.bin"]?.sha256)
        let info = try JSONValue.parse(String(contentsOfFile: "\(dir)/info.json", encoding: .utf8))
        XCTAssertEqual(info["State"]?.string, "transferred")
        XCTAssertEqual(info["Priority"]?.string, "low")
        try assertNoNewJobs(since: before, "bitsctl-session.sh", file: #filePath, line: #line)
    }

    // MARK: helpers

    /// Downloads medium.bin (1 MiB at ~1 MB/s, so progress shows) with the example; the file
    /// must arrive whole, owned by alice, with no temporary left and no job left behind.
    private func checkDownload(example: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = try downloadDirectory(alice, "example")
        let dest = "\(dir)/medium.bin"
        let before = try allJobs()
        let r = try runExample(example, http.url("/medium.bin", [("rate", "1000000")]), dest)
        XCTAssertTrue(r.succeeded, "\(example) failed: \(r.summary)", file: file, line: line)
        XCTAssertTrue(r.stdout.contains("saved \(dest)"), "\(example) did not report the saved file: \(r.summary)",
                      file: file, line: line)
        XCTAssertTrue(r.stdout.contains("of 1048576 bytes"), "\(example) printed no progress with the size: \(r.summary)",
                      file: file, line: line)
        XCTAssertFalse(r.stderr.contains("Traceback"), "\(example) raised: \(r.stderr)", file: file, line: line)
        XCTAssertEqual(try? TestFiles.sha256(dest), env.files["medium.bin"]?.sha256, "\(example): wrong bytes in \(dest)",
                       file: file, line: line)
        XCTAssertEqual(TestFiles.owner(dest)?.uid, alice.uid, "\(example): \(dest) is not alice's", file: file, line: line)
        XCTAssertEqual(TestFiles.listing(dir), ["medium.bin"], "\(example) left other files", file: file, line: line)
        try assertNoNewJobs(since: before, example, file: file, line: line)
    }

    /// A URL that answers 404: exit status 1, the error code on stderr, no file, job cancelled.
    private func checkFailedDownload(example: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = try downloadDirectory(alice, "example-404")
        let before = try allJobs()
        let r = try runExample(example, http.url("/absent-\(UUID().uuidString).bin"), "\(dir)/absent.bin")
        XCTAssertEqual(r.status, 1, "\(example) on a 404 should exit 1: \(r.summary)", file: file, line: line)
        XCTAssertFalse(r.timedOut, "\(example) hung on a 404: \(r.summary)", file: file, line: line)
        XCTAssertTrue(r.stderr.contains("http-404"), "\(example) should print the error code: \(r.summary)",
                      file: file, line: line)
        XCTAssertFalse(r.stderr.contains("Traceback"), "\(example) raised: \(r.stderr)", file: file, line: line)
        XCTAssertEqual(TestFiles.listing(dir), [], "\(example) left files after the 404", file: file, line: line)
        try assertNoNewJobs(since: before, example, file: file, line: line)
    }

    /// Runs `examples/<name>` as alice with the test bus as her system bus, from a copy that alice
    /// can read wherever the repository lives.
    private func runExample(_ name: String, _ args: String..., environment: [String: String] = [:]) throws -> CommandResult {
        let source = "\(TestEnvironment.repoRoot)/examples/\(name)"
        guard let data = FileManager.default.contents(atPath: source) else { throw HarnessError("missing \(source)") }
        XCTAssertEqual(access(source, X_OK), 0, "\(source) is not executable")
        let dir = "\(env.directory)/examples"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        chmod(dir, 0o755)
        let copy = "\(dir)/\(name)"
        try data.write(to: URL(fileURLWithPath: copy))
        chmod(copy, 0o755)
        let variables = environment.merging(["DBUS_SYSTEM_BUS_ADDRESS": env.address]) { $1 }
        return try ProcessRunner.run([copy] + args, as: alice, environment: variables,
                                     timeout: 60, cwd: alice.home)
    }

    /// Every non-final job of every user (ListJobs(true) as root).
    private func allJobs() throws -> Set<String> {
        let r = try listJobs(as: nil, allUsers: true)
        guard let jobs = r.first?.stringArray else { throw HarnessError("ListJobs(true) as root: \(r)") }
        return Set(jobs)
    }

    private func assertNoNewJobs(since before: Set<String>, _ example: String,
                                 file: StaticString, line: UInt) throws {
        let left = try allJobs().subtracting(before)
        guard !left.isEmpty else { return }
        left.forEach(trackJob) // cancelled at tearDown
        let details = try left.map { "\($0): \(try jobDiagnostics($0))" }
        XCTFail("\(example) left jobs behind: \(details)", file: file, line: line)
    }
}

/// The README (busctl, bitsctl) and docs/clients.md (Python, Swift) show the examples verbatim:
/// a fenced code block right after a line `<!-- example: examples/FILE -->` must be
/// byte-identical to that file. To show another example, add the marker and the block to one of
/// `documents`; this test then keeps the two in step. (Named so that
/// `--filter DocumentationExamplesTests` runs it too; it needs neither root nor a daemon.)
final class DocumentationExamplesTestsReadme: XCTestCase {
    static let documents = ["README.md", "docs/clients.md"]
    /// Markers that must be present (more may be).
    static let required = ["examples/busctl-download.sh", "examples/python-download.py",
                           "examples/swift-download/main.swift", "examples/bitsctl-session.sh"]

    func testReadmeBlocksMatchTheExampleFiles() throws {
        var seen: [String] = []
        for document in Self.documents {
            let path = "\(TestEnvironment.repoRoot)/\(document)"
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                XCTFail("cannot read \(path)")
                continue
            }
            for block in try Self.exampleBlocks(in: text, document: document) {
                seen.append(block.file)
                let filePath = "\(TestEnvironment.repoRoot)/\(block.file)"
                guard let data = FileManager.default.contents(atPath: filePath) else {
                    XCTFail("\(document):\(block.line): the marker names \(block.file), which does not exist")
                    continue
                }
                let fileText = String(decoding: data, as: UTF8.self)
                if fileText != block.text {
                    XCTFail("\(document):\(block.line): the block differs from \(block.file) — "
                            + Self.firstDifference(block.text, fileText)
                            + "; copy the file into the block (the documents must show exactly what the tests run)")
                }
            }
        }
        for file in Self.required where !seen.contains(file) {
            XCTFail("no `<!-- example: \(file) -->` block in \(Self.documents.joined(separator: ", "))")
        }
    }

    /// Self-test of the parser on a made-up document.
    func testMarkerParsing() throws {
        let doc = "text\n<!-- example: examples/a.sh -->\n```sh\necho a\n\n```\n<!-- example: examples/b.py -->\n"
            + "````python\nx = '```'\n````\n```sh\nnot marked\n```\n"
        let blocks = try Self.exampleBlocks(in: doc, document: "doc")
        XCTAssertEqual(blocks.map(\.file), ["examples/a.sh", "examples/b.py"])
        XCTAssertEqual(blocks.map(\.text), ["echo a\n\n", "x = '```'\n"])
        XCTAssertEqual(blocks.map(\.line), [2, 7])
        XCTAssertThrowsError(try Self.exampleBlocks(in: "<!-- example: examples/a.sh -->\ntext\n", document: "doc"))
        XCTAssertThrowsError(try Self.exampleBlocks(in: "<!-- example: examples/a.sh -->\n```\nopen\n", document: "doc"))
        XCTAssertThrowsError(try Self.exampleBlocks(in: "<!-- example: -->\n```\n```\n", document: "doc"))
    }

    struct Block {
        let file: String
        let line: Int
        let text: String
    }

    /// The blocks after example markers. The line after a marker must open a fence (three or
    /// more backticks, optional info string); the block ends at the same fence alone on a line.
    static func exampleBlocks(in text: String, document: String) throws -> [Block] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var blocks: [Block] = []
        var i = 0
        while i < lines.count {
            let marker = lines[i].trimmingCharacters(in: .whitespaces)
            guard marker.hasPrefix("<!-- example:") else { i += 1; continue }
            let number = i + 1
            guard marker.hasSuffix("-->") else { throw HarnessError("\(document):\(number): unterminated marker") }
            let file = marker.dropFirst("<!-- example:".count).dropLast("-->".count)
                .trimmingCharacters(in: .whitespaces)
            guard !file.isEmpty, !file.contains(" ") else { throw HarnessError("\(document):\(number): bad marker \(marker)") }
            let open = i + 1 < lines.count ? lines[i + 1] : ""
            let fence = String(open.prefix { $0 == "`" })
            guard fence.count >= 3 else {
                throw HarnessError("\(document):\(number): the marker for \(file) is not followed by a ``` code block")
            }
            guard let close = lines[(i + 2)...].firstIndex(where: { $0 == fence }) else {
                throw HarnessError("\(document):\(number): the code block for \(file) is not closed")
            }
            let body = lines[(i + 2)..<close]
            blocks.append(Block(file: file, line: number, text: body.map { $0 + "\n" }.joined()))
            i = close + 1
        }
        return blocks
    }

    /// "line N: the block has …, the file has …" for the first differing line.
    static func firstDifference(_ shown: String, _ actual: String) -> String {
        let a = shown.split(separator: "\n", omittingEmptySubsequences: false)
        let b = actual.split(separator: "\n", omittingEmptySubsequences: false)
        for n in 0..<max(a.count, b.count) {
            let x = n < a.count ? String(a[n]) : "(end)"
            let y = n < b.count ? String(b[n]) : "(end)"
            if x != y { return "line \(n + 1): the block has \"\(x)\", the file has \"\(y)\"" }
        }
        return "they differ in bytes that do not show (line ends, encoding)"
    }
}
