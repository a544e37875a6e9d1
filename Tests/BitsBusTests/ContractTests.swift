import BitsCore
import BitsDBus
import Foundation
import XCTest
@testable import BitsBus

/// The contract in the code agrees with the interface XML in `dbus/`: the generated tables
/// (parsed by GDBus, as the daemon parses them), the XML compiled into the daemon, the error
/// names, and the daemon's property coding (each value has the XML's signature, exactly the
/// writable properties can be set). Any difference fails here.
final class ContractTests: XCTestCase {
    static let dbusDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("dbus")

    private func xml(_ interface: BitsInterface) throws -> String {
        try String(contentsOf: Self.dbusDirectory.appendingPathComponent(interface.rawValue + ".xml"), encoding: .utf8)
    }

    func testEveryInterfaceFileIsInTheContract() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.dbusDirectory.path)
            .filter { $0.hasPrefix("org.example.Bits.") && $0.hasSuffix(".xml") }
        XCTAssertEqual(Set(files), Set(BitsInterface.allCases.map { $0.rawValue + ".xml" }))
    }

    /// Methods with their arguments, signals, properties with signature and access: the XML as
    /// GDBus reads it against the tables generated at build time.
    func testTheXMLDeclaresExactlyTheContract() throws {
        for interface in BitsInterface.allCases {
            let info = try InterfaceInfo(xml: try xml(interface), name: interface.rawValue)
            XCTAssertEqual(InterfaceDefinitions.differences(info, from: interface), [], interface.rawValue)
        }
        XCTAssertEqual(ManagerMethod.createJob.inArguments, [ContractArgument("display_name", "s"), ContractArgument("type", "s")])
        XCTAssertEqual(ManagerMethod.createJob.outArguments, [ContractArgument("job", "o")])
        XCTAssertEqual(JobProperty.minimumRetryDelay.signature, "u")
        XCTAssertEqual(JobProperty.minimumRetryDelay.access, .readwrite)
        XCTAssertEqual(FileProperty.ranges.signature, "a(tt)")
        XCTAssertEqual(JobSignal.error.arguments.map(\.type), ["s", "s", "s"])
    }

    /// The comparison catches each kind of difference (so the test above would fail on one).
    func testADifferentXMLIsReported() throws {
        var text = try xml(.job)
        text = text.replacingOccurrences(of: #"<property name="MinimumRetryDelay" type="u" access="readwrite"/>"#,
                                         with: #"<property name="MinimumRetryDelay" type="t" access="read"/><property name="Extra" type="s" access="read"/>"#)
        text = text.replacingOccurrences(of: #"<method name="Resume"/>"#, with: "")
        text = text.replacingOccurrences(of: #"<arg name="changed" type="u" direction="out"/>"#,
                                         with: #"<arg name="count" type="u" direction="out"/>"#)
        text = text.replacingOccurrences(of: #"<signal name="Transferred"/>"#, with: #"<signal name="Transferred"><arg name="x" type="s"/></signal>"#)
        let info = try InterfaceInfo(xml: text, name: BitsInterface.job.rawValue)
        XCTAssertEqual(InterfaceDefinitions.differences(info, from: .job), [
            "method ReplaceRemotePrefix is (in s old_prefix, in s new_prefix, out u count), not (in s old_prefix, in s new_prefix, out u changed)",
            "method Resume is missing",
            "signal Transferred is (s x), not ()",
            "property Extra is not in the contract",
            "property MinimumRetryDelay is (t read), not (u readwrite)",
        ])
    }

    /// The daemon serves the XML of `dbus/` as it is, with no file at run time; a directory
    /// given instead must hold the same contract.
    func testTheDaemonServesTheXMLCompiledIn() throws {
        for interface in BitsInterface.allCases {
            XCTAssertEqual(EmbeddedInterfaces.xml[interface.rawValue], try xml(interface), interface.rawValue)
        }
        XCTAssertNoThrow(try InterfaceDefinitions(directory: nil))
        XCTAssertNoThrow(try InterfaceDefinitions(directory: Self.dbusDirectory.path))

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("contract-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for interface in BitsInterface.allCases {
            var text = try xml(interface)
            if interface == .file { text = text.replacingOccurrences(of: #"name="Completed" type="b""#, with: #"name="Completed" type="s""#) }
            try text.write(to: directory.appendingPathComponent(interface.rawValue + ".xml"), atomically: true, encoding: .utf8)
        }
        XCTAssertThrowsError(try InterfaceDefinitions(directory: directory.path)) { error in
            XCTAssertEqual("\(error)", "interface org.example.Bits.File differs from the contract bitsd was built with: property Completed is (s read), not (b read)")
        }
    }

    /// The error names of `ServiceError.Name` are those the XML documents.
    func testErrorNamesAreThoseOfTheXML() throws {
        var documented = Set<String>()
        for interface in BitsInterface.allCases {
            let text = try xml(interface)
            let pattern = try NSRegularExpression(pattern: #"org\.(example\.Bits|freedesktop\.DBus)\.Error\.[A-Za-z]+"#)
            for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                documented.insert(String(text[Range(match.range, in: text)!]))
            }
        }
        let names = Set(ServiceError.Name.allCases.map(\.rawValue))
        XCTAssertEqual(documented.filter { $0.hasPrefix("org.example.Bits.") }, names.filter { $0.hasPrefix("org.example.Bits.") })
        XCTAssertEqual(names.subtracting(documented), [], "every error the service answers is documented in the XML")
    }

    // MARK: - The daemon's property coding

    private func sampleJob(_ type: JobType) -> Job {
        var job = Job(id: .random(), type: type, owner: 1000, displayName: "contract", now: 1)
        var file = JobFile(remoteName: "http://h/a", localName: "/tmp/a", temporaryName: "/tmp/BIT1.tmp")
        file.ranges = [FileRange(offset: 0, length: 10)]
        job.files = [file]
        job.lastError = JobError(context: .remoteFile, code: .http(404), description: "gone", fileIndex: 0)
        if type == .uploadReply { job.reply = ReplyState() }
        return job
    }

    func testEveryPropertyIsEncodedWithItsSignature() {
        let job = sampleJob(.uploadReply)
        for property in JobProperty.allCases {
            XCTAssertEqual(PropertyEncoding.jobValue(property, job)?.typeString, property.signature, property.name)
        }
        let reply: Set<JobProperty> = [.replyFileName, .replyBytesTotal, .replyBytesTransferred]
        let download = sampleJob(.download)
        for property in JobProperty.allCases {
            XCTAssertEqual(PropertyEncoding.jobValue(property, download)?.typeString, reply.contains(property) ? nil : property.signature,
                           property.name)
        }
        for property in FileProperty.allCases {
            XCTAssertEqual(PropertyEncoding.fileValue(property, job.files[0])?.typeString, property.signature, property.name)
        }
        for property in ManagerProperty.allCases {
            XCTAssertEqual(ManagerHarness.value(property, version: "1", limits: JobLimits()).typeString, property.signature, property.name)
        }
        XCTAssertEqual(PropertyEncoding.jobProperties(job).map(\.0), JobProperty.allCases.map(\.name), "GetAll: every property, in XML order")
    }

    /// A value of the property's signature becomes a setting exactly for the writable
    /// properties; another type is InvalidArgs naming the property.
    func testExactlyTheWritablePropertiesDecodeASetting() throws {
        func sample(_ signature: String) -> Variant {
            switch signature {
            case "s": .string("normal")
            case "u": .uint32(1)
            case "t": .uint64(1)
            case "b": .bool(true)
            case "as": .strings(["a"])
            case "o": .objectPath("/")
            case "ao": .objectPaths([])
            default: .array(elementType: String(signature.dropFirst()), [])
            }
        }
        for property in JobProperty.allCases {
            let setting = try PropertyEncoding.jobSetting(property, sample(property.signature))
            XCTAssertEqual(setting != nil, property.access.isWritable, property.name)
            guard property.access.isWritable else { continue }
            let wrong: Variant = property.signature == "s" ? .uint32(1) : .string("x")
            XCTAssertThrowsError(try PropertyEncoding.jobSetting(property, wrong)) { error in
                XCTAssertEqual(error as? ServiceError,
                               .invalidArgs("Property \(property.name) takes type '\(property.signature)', not '\(wrong.typeString)'."))
            }
        }
    }
}
