@testable import BitsClient
import XCTest

final class JobPropertiesTests: XCTestCase {
    let path = "/org/example/Bits/jobs/0123456789abcdef0123456789abcdef"

    /// A `GetAll` reply as it comes off the bus: every value boxed in `v`.
    func getAll(_ entries: [(String, Variant)]) -> [String: Variant] {
        propertyDictionary(.vardict(entries))
    }

    func testDefaults() {
        let job = JobProperties(path: path)
        XCTAssertEqual(job.path, path)
        XCTAssertEqual(job.state, .suspended)
        XCTAssertEqual(job.type, .download)
        XCTAssertEqual(job.priority, .normal)
        XCTAssertNil(job.bytesTotal)
        XCTAssertEqual(job.bytesPerSecond, 0)
        XCTAssertNil(job.estimatedTimeRemaining)
        XCTAssertEqual(job.errorContext, .none)
        XCTAssertEqual(job.errorFile, "/")
        XCTAssertEqual(job.minimumRetryDelay, 600)
        XCTAssertEqual(job.noProgressTimeout, 1_209_600)
        XCTAssertEqual(job.files, [])
        XCTAssertEqual(job.raw, [:])
        XCTAssertFalse(job.isFinal)
    }

    func testGetAllDecodesEveryKind() {
        let files = [path + "/files/0", path + "/files/1"]
        let job = JobProperties(path: path, properties: getAll([
            ("Id", .string("01234567-89ab-cdef-0123-456789abcdef")), ("Type", .string("upload-reply")),
            ("Owner", .uint32(1000)), ("DisplayName", .string("iso")), ("Description", .string("nightly")),
            ("State", .string("transient-error")), ("Priority", .string("foreground")),
            ("BytesTotal", .uint64(4096)), ("BytesTransferred", .uint64(1024)),
            ("BytesPerSecond", .uint64(512)), ("EstimatedTimeRemaining", .uint64(6)),
            ("FilesTotal", .uint32(2)), ("FilesTransferred", .uint32(1)),
            ("CreationTime", .uint64(1_700_000_000_000_000)), ("ModificationTime", .uint64(1_700_000_001_000_000)),
            ("TransferCompletionTime", .uint64(0)),
            ("ErrorContext", .string("general-transport")), ("ErrorCode", .string("0x80072efd")),
            ("ErrorDescription", .string("Cannot connect")), ("ErrorFile", .objectPath(files[1])),
            ("ErrorCount", .uint32(3)), ("MinimumRetryDelay", .uint32(60)), ("NoProgressTimeout", .uint32(120)),
            ("MaximumDownloadTime", .uint32(0)), ("NotifyFlags", .uint32(11)),
            ("NotifyCommandLine", .strings(["/bin/true", "x"])), ("ProxyUsage", .string("override")),
            ("ProxyList", .string("http://proxy:3128")), ("ProxyBypassList", .string("localhost")),
            ("CustomHeaders", .strings(["X-A: 1"])), ("CustomHeadersWriteOnly", .bool(true)),
            ("HttpMethod", .string("PUT")), ("RedirectPolicy", .string("deny")),
            ("AllowHttpsToHttpRedirect", .bool(true)), ("VerifyPeer", .bool(false)), ("VerifyHost", .bool(false)),
            ("CheckRevocation", .bool(true)), ("TransferPolicy", .string("unmetered")),
            ("DynamicContent", .bool(true)), ("HighPerformance", .bool(true)),
            ("MaximumDownloadSize", .uint64(1 << 30)), ("MinimumNotificationInterval", .uint32(250)),
            ("ReplyFileName", .string("/tmp/reply")), ("ReplyBytesTotal", .uint64(10)),
            ("ReplyBytesTransferred", .uint64(5)), ("Files", .objectPaths(files)),
            ("SomethingNew", .int32(-1)),
        ]))
        XCTAssertEqual(job.id, "01234567-89ab-cdef-0123-456789abcdef")
        XCTAssertEqual(job.type, .uploadReply)
        XCTAssertEqual(job.owner, 1000)
        XCTAssertEqual(job.displayName, "iso")
        XCTAssertEqual(job.description, "nightly")
        XCTAssertEqual(job.state, .transientError)
        XCTAssertEqual(job.priority, .foreground)
        XCTAssertEqual(job.bytesTotal, 4096)
        XCTAssertEqual(job.bytesTransferred, 1024)
        XCTAssertEqual(job.bytesPerSecond, 512)
        XCTAssertEqual(job.estimatedTimeRemaining, 6)
        XCTAssertEqual(job.filesTotal, 2)
        XCTAssertEqual(job.filesTransferred, 1)
        XCTAssertEqual(job.creationTime, 1_700_000_000_000_000)
        XCTAssertEqual(job.modificationTime, 1_700_000_001_000_000)
        XCTAssertEqual(job.transferCompletionTime, 0)
        XCTAssertEqual(job.errorContext, .generalTransport)
        XCTAssertEqual(job.errorCode, "0x80072efd")
        XCTAssertEqual(job.errorDescription, "Cannot connect")
        XCTAssertEqual(job.errorFile, files[1])
        XCTAssertEqual(job.errorCount, 3)
        XCTAssertEqual(job.minimumRetryDelay, 60)
        XCTAssertEqual(job.noProgressTimeout, 120)
        XCTAssertEqual(job.maximumDownloadTime, 0)
        XCTAssertEqual(job.notifyFlags, 11)
        XCTAssertEqual(job.notifyCommandLine, ["/bin/true", "x"])
        XCTAssertEqual(job.proxyUsage, "override")
        XCTAssertEqual(job.proxyList, "http://proxy:3128")
        XCTAssertEqual(job.proxyBypassList, "localhost")
        XCTAssertEqual(job.customHeaders, ["X-A: 1"])
        XCTAssertTrue(job.customHeadersWriteOnly)
        XCTAssertEqual(job.httpMethod, "PUT")
        XCTAssertEqual(job.redirectPolicy, "deny")
        XCTAssertTrue(job.allowHttpsToHttpRedirect)
        XCTAssertFalse(job.verifyPeer)
        XCTAssertFalse(job.verifyHost)
        XCTAssertTrue(job.checkRevocation)
        XCTAssertEqual(job.transferPolicy, "unmetered")
        XCTAssertTrue(job.dynamicContent)
        XCTAssertTrue(job.highPerformance)
        XCTAssertEqual(job.maximumDownloadSize, 1 << 30)
        XCTAssertEqual(job.minimumNotificationInterval, 250)
        XCTAssertEqual(job.replyFileName, "/tmp/reply")
        XCTAssertEqual(job.replyBytesTotal, 10)
        XCTAssertEqual(job.replyBytesTransferred, 5)
        XCTAssertEqual(job.files, files)
        // raw keeps every value unboxed, unknown names included.
        XCTAssertEqual(job.raw.count, 47)
        XCTAssertEqual(job.raw["SomethingNew"], .int32(-1))
        XCTAssertEqual(job.raw["State"], .string("transient-error"))
    }

    func testApplyUnboxesVariantsItself() {
        // PropertiesChanged values may arrive still boxed (even twice).
        var job = JobProperties(path: path)
        job.apply(["State": .variant(.string("transferring")), "BytesTransferred": .variant(.variant(.uint64(77)))])
        XCTAssertEqual(job.state, .transferring)
        XCTAssertEqual(job.bytesTransferred, 77)
        XCTAssertEqual(job.raw["BytesTransferred"], .uint64(77))
    }

    func testUnknownSizesAreNil() {
        var job = JobProperties(path: path, properties: ["BytesTotal": .uint64(UInt64.max), "ReplyBytesTotal": .uint64(UInt64.max)])
        XCTAssertNil(job.bytesTotal)
        XCTAssertNil(job.replyBytesTotal)
        XCTAssertEqual(job.raw["BytesTotal"], .uint64(UInt64.max), "raw keeps the bus value")
        job.apply(["BytesTotal": .uint64(0)])
        XCTAssertEqual(job.bytesTotal, 0)
        job.apply(["BytesTotal": .variant(.uint64(UInt64.max))])
        XCTAssertNil(job.bytesTotal)
        job.apply(["BytesTotal": .uint64(UInt64.max - 1)])
        XCTAssertEqual(job.bytesTotal, UInt64.max - 1)
        job.apply(["EstimatedTimeRemaining": .uint64(30)])
        XCTAssertEqual(job.estimatedTimeRemaining, 30)
        job.apply(["EstimatedTimeRemaining": .uint64(UInt64.max)])
        XCTAssertNil(job.estimatedTimeRemaining, "UINT64_MAX: unknown")
    }

    func testUnknownOrMistypedValuesKeepTheOldOnes() {
        var job = JobProperties(path: path, properties: ["State": .string("queued"), "Priority": .string("high"),
                                                          "Type": .string("upload"), "Owner": .uint32(5)])
        job.apply(["State": .string("exploded"), "Priority": .string("urgent"), "Type": .string("sideways"),
                   "Owner": .string("root"), "DisplayName": .uint32(1)])
        XCTAssertEqual(job.state, .queued)
        XCTAssertEqual(job.priority, .high)
        XCTAssertEqual(job.type, .upload)
        XCTAssertEqual(job.owner, 5)
        XCTAssertEqual(job.displayName, "")
        XCTAssertEqual(job.raw["State"], .string("exploded"), "raw shows what was sent")
    }

    func testErrorContext() {
        var job = JobProperties(path: path)
        for context in ErrorContext.allCases {
            job.apply(["ErrorContext": .string(context.rawValue)])
            XCTAssertEqual(job.errorContext, context)
        }
        job.apply(["ErrorContext": .string("remote-file")])
        job.apply(["ErrorContext": .string("from-the-future")])
        XCTAssertEqual(job.errorContext, .unknown, "an unknown context is `unknown`, not the previous one")
    }

    func testIsFinal() {
        for state in JobState.allCases {
            let job = JobProperties(path: path, properties: ["State": .string(state.rawValue)])
            XCTAssertEqual(job.state, state)
            XCTAssertEqual(job.isFinal, state == .acknowledged || state == .cancelled, state.rawValue)
        }
    }

    func testFilesKeepTheirOrderAndListsCanEmpty() {
        var job = JobProperties(path: path, properties: ["Files": .objectPaths(["/f/2", "/f/0", "/f/1"]),
                                                          "CustomHeaders": .strings(["A: 1"])])
        XCTAssertEqual(job.files, ["/f/2", "/f/0", "/f/1"])
        job.apply(["Files": .array(elementType: "o", []), "CustomHeaders": .strings([])])
        XCTAssertEqual(job.files, [])
        XCTAssertEqual(job.customHeaders, [])
    }

    func testPropertyDictionary() {
        XCTAssertEqual(propertyDictionary(nil), [:])
        XCTAssertEqual(propertyDictionary(.string("x")), [:])
        XCTAssertEqual(propertyDictionary(.vardict([("A", .uint32(1)), ("B", .variant(.string("b")))])),
                       ["A": .uint32(1), "B": .string("b")])
    }

    func testJobIdFromPath() {
        let job = BitsJob(client: detachedClient(), path: "/org/example/Bits/jobs/0123456789abcdef0123456789abcdef")
        XCTAssertEqual(job.id, "01234567-89ab-cdef-0123-456789abcdef")
        // Not a 32-digit job path: the last element as it is.
        XCTAssertEqual(BitsJob(client: detachedClient(), path: "/org/example/Bits/jobs/abc").id, "abc")
        XCTAssertEqual(BitsJob(client: detachedClient(), path: "/").id, "")
    }
}

final class FilePropertiesTests: XCTestCase {
    let path = "/org/example/Bits/jobs/0123456789abcdef0123456789abcdef/files/3"

    func testGetAll() {
        let file = FileProperties(path: path, properties: propertyDictionary(.vardict([
            ("RemoteName", .string("https://example.org/a.iso")), ("LocalName", .string("/home/me/a.iso")),
            ("TemporaryName", .string("/home/me/.a.iso.bits")), ("BytesTotal", .uint64(100)),
            ("BytesTransferred", .uint64(40)), ("Completed", .bool(false)), ("LastModified", .uint64(1_600_000_000_000_000)),
            ("ValidationState", .string("valid")), ("ResponseHeaders", .string("HTTP/1.1 200 OK\r\n")),
            ("Ranges", .array(elementType: "(tt)", [.tuple([.uint64(0), .uint64(100)]),
                                                    .tuple([.uint64(2000), .uint64(UInt64.max)])])),
        ])))
        XCTAssertEqual(file.remoteName, "https://example.org/a.iso")
        XCTAssertEqual(file.localName, "/home/me/a.iso")
        XCTAssertEqual(file.temporaryName, "/home/me/.a.iso.bits")
        XCTAssertEqual(file.bytesTotal, 100)
        XCTAssertEqual(file.bytesTransferred, 40)
        XCTAssertFalse(file.completed)
        XCTAssertEqual(file.lastModified, 1_600_000_000_000_000)
        XCTAssertEqual(file.validationState, "valid")
        XCTAssertEqual(file.responseHeaders, "HTTP/1.1 200 OK\r\n")
        XCTAssertEqual(flatten(file.ranges), [[0, 100], [2000, UInt64.max]])
        XCTAssertEqual(file.raw.count, 10)
    }

    func testBoxedValuesUnknownSizeAndUpdates() {
        var file = FileProperties(path: path, properties: ["BytesTotal": .variant(.uint64(UInt64.max)),
                                                           "Completed": .variant(.bool(false))])
        XCTAssertNil(file.bytesTotal)
        XCTAssertEqual(file.validationState, "unknown")
        file.apply(["BytesTotal": .uint64(5), "Completed": .bool(true), "Ranges": .array(elementType: "(tt)", [])])
        XCTAssertEqual(file.bytesTotal, 5)
        XCTAssertTrue(file.completed)
        XCTAssertTrue(file.ranges.isEmpty)
    }

    func testIndex() {
        XCTAssertEqual(FileProperties(path: path).index, 3)
        XCTAssertEqual(FileProperties(path: "/org/example/Bits/jobs/00/files/0").index, 0)
        XCTAssertEqual(FileProperties(path: "/org/example/Bits/jobs/00/files/12").index, 12)
        XCTAssertNil(FileProperties(path: "/org/example/Bits/jobs/0123456789abcdef0123456789abcdef").index)
        XCTAssertNil(FileProperties(path: "/").index)
    }

    func testEqualityFollowsPathAndValues() {
        let a = FileProperties(path: path, properties: ["Ranges": .array(elementType: "(tt)", [.tuple([.uint64(0), .uint64(1)])])])
        var b = FileProperties(path: path, properties: ["Ranges": .array(elementType: "(tt)", [.tuple([.uint64(0), .uint64(1)])])])
        XCTAssertEqual(a, b)
        b.apply(["Ranges": .array(elementType: "(tt)", [.tuple([.uint64(0), .uint64(2)])])])
        XCTAssertNotEqual(a, b)
        XCTAssertNotEqual(a, FileProperties(path: path + "0", properties: a.raw))
    }
}
