@testable import BitsClient
import XCTest

final class SettingParseTests: XCTestCase {
    typealias Setting = BitsJob.Setting

    /// The typed settings cover the contract's writable job properties, each with a value of
    /// the property's XML signature; `bitsctl set` parses by the same table.
    func testTypedSettingsFollowTheContract() {
        let typed: [Setting] = [
            .displayName("d"), .description("d"), .priority(.high), .minimumRetryDelay(1), .noProgressTimeout(1),
            .maximumDownloadTime(1), .notifyFlags(1), .notifyCommandLine(["a"]), .proxyUsage("override"), .proxyList("p"),
            .proxyBypassList("b"), .customHeaders(["A: b"]), .customHeadersWriteOnly(true), .httpMethod("GET"),
            .redirectPolicy("allow"), .allowHttpsToHttpRedirect(true), .verifyPeer(true), .verifyHost(true),
            .checkRevocation(true), .transferPolicy("always"), .dynamicContent(true), .highPerformance(true),
            .maximumDownloadSize(1), .minimumNotificationInterval(1), .replyFileName("/tmp/r"),
        ]
        XCTAssertEqual(typed.map(\.name), JobProperty.writable.map(\.name))
        for setting in typed {
            XCTAssertEqual(setting.value.typeString, JobProperty(rawValue: setting.name)?.signature, setting.name)
        }
        XCTAssertEqual(Setting.writableJobProperties,
                       Dictionary(uniqueKeysWithValues: JobProperty.writable.map { ($0.name, $0.signature) }))
        XCTAssertEqual(Setting.writableFileProperties, ["ExpectedHash": "s", "RemoteName": "s", "ValidationState": "s"])
    }

    func testString() throws {
        XCTAssertEqual(try Setting.parse(name: "DisplayName", arguments: ["my iso"]),
                       Setting(name: "DisplayName", value: .string("my iso")))
        XCTAssertEqual(try Setting.parse(name: "ProxyList", arguments: [""]), Setting(name: "ProxyList", value: .string("")))
    }

    func testUInt32DecimalAndHex() throws {
        XCTAssertEqual(try Setting.parse(name: "MinimumRetryDelay", arguments: ["60"]),
                       Setting(name: "MinimumRetryDelay", value: .uint32(60)))
        XCTAssertEqual(try Setting.parse(name: "NotifyFlags", arguments: ["0x0B"]), Setting(name: "NotifyFlags", value: .uint32(11)))
        XCTAssertEqual(try Setting.parse(name: "NotifyFlags", arguments: ["0XfF"]), Setting(name: "NotifyFlags", value: .uint32(255)))
        XCTAssertEqual(try Setting.parse(name: "NotifyFlags", arguments: ["4294967295"]),
                       Setting(name: "NotifyFlags", value: .uint32(UInt32.max)))
        XCTAssertEqual(try Setting.parse(name: "NotifyFlags", arguments: ["0"]), Setting(name: "NotifyFlags", value: .uint32(0)))
    }

    func testUInt32Errors() {
        XCTAssertEqual(thrownMessage { try Setting.parse(name: "NotifyFlags", arguments: ["4294967296"]) },
                       #""4294967296" is not an unsigned 32-bit number (NotifyFlags)."#)
        XCTAssertEqual(thrownMessage { try Setting.parse(name: "MinimumRetryDelay", arguments: ["-1"]) },
                       #""-1" is not an unsigned 32-bit number (MinimumRetryDelay)."#)
        XCTAssertEqual(thrownMessage { try Setting.parse(name: "MinimumRetryDelay", arguments: ["ten"]) },
                       #""ten" is not an unsigned 32-bit number (MinimumRetryDelay)."#)
        XCTAssertEqual(thrownMessage { try Setting.parse(name: "NotifyFlags", arguments: ["0x"]) },
                       #""0x" is not an unsigned 32-bit number (NotifyFlags)."#)
        XCTAssertEqual(thrownMessage { try Setting.parse(name: "NotifyFlags", arguments: ["0x1g"]) },
                       #""0x1g" is not an unsigned 32-bit number (NotifyFlags)."#)
    }

    func testUInt64() throws {
        XCTAssertEqual(try Setting.parse(name: "MaximumDownloadSize", arguments: ["18446744073709551615"]),
                       Setting(name: "MaximumDownloadSize", value: .uint64(UInt64.max)))
        XCTAssertEqual(try Setting.parse(name: "MaximumDownloadSize", arguments: ["0x100000000"]),
                       Setting(name: "MaximumDownloadSize", value: .uint64(1 << 32)))
        XCTAssertEqual(thrownMessage { try Setting.parse(name: "MaximumDownloadSize", arguments: ["18446744073709551616"]) },
                       #""18446744073709551616" is not an unsigned 64-bit number (MaximumDownloadSize)."#)
        XCTAssertEqual(thrownMessage { try Setting.parse(name: "MaximumDownloadSize", arguments: ["1.5"]) },
                       #""1.5" is not an unsigned 64-bit number (MaximumDownloadSize)."#)
    }

    func testBooleans() throws {
        for text in ["true", "TRUE", "yes", "Yes", "1", "on", "ON"] {
            XCTAssertEqual(try Setting.parse(name: "VerifyPeer", arguments: [text]),
                           Setting(name: "VerifyPeer", value: .bool(true)), text)
        }
        for text in ["false", "False", "no", "NO", "0", "off", "Off"] {
            XCTAssertEqual(try Setting.parse(name: "DynamicContent", arguments: [text]),
                           Setting(name: "DynamicContent", value: .bool(false)), text)
        }
        XCTAssertEqual(thrownMessage { try Setting.parse(name: "VerifyHost", arguments: ["maybe"]) },
                       #""maybe" is not true or false (VerifyHost)."#)
        XCTAssertEqual(thrownMessage { try Setting.parse(name: "VerifyHost", arguments: ["2"]) },
                       #""2" is not true or false (VerifyHost)."#)
    }

    func testStringLists() throws {
        XCTAssertEqual(try Setting.parse(name: "NotifyCommandLine", arguments: []),
                       Setting(name: "NotifyCommandLine", value: .array(elementType: "s", [])))
        XCTAssertEqual(try Setting.parse(name: "NotifyCommandLine", arguments: ["/usr/bin/notify-send", "done"]),
                       Setting(name: "NotifyCommandLine", value: .strings(["/usr/bin/notify-send", "done"])))
        XCTAssertEqual(try Setting.parse(name: "CustomHeaders", arguments: ["X-A: 1"]),
                       Setting(name: "CustomHeaders", value: .strings(["X-A: 1"])))
    }

    func testWrongArity() {
        XCTAssertEqual(thrownMessage { try Setting.parse(name: "DisplayName", arguments: []) },
                       "DisplayName takes exactly one value (got 0).")
        XCTAssertEqual(thrownMessage { try Setting.parse(name: "verifypeer", arguments: ["true", "false"]) },
                       "VerifyPeer takes exactly one value (got 2).")
    }

    func testCaseInsensitiveNameGivesTheCanonicalName() throws {
        XCTAssertEqual(try Setting.parse(name: "displayname", arguments: ["x"]), Setting(name: "DisplayName", value: .string("x")))
        XCTAssertEqual(try Setting.parse(name: "MAXIMUMDOWNLOADSIZE", arguments: ["5"]),
                       Setting(name: "MaximumDownloadSize", value: .uint64(5)))
        XCTAssertEqual(try Setting.parse(name: "remotename", arguments: ["https://e/a"], types: Setting.writableFileProperties),
                       Setting(name: "RemoteName", value: .string("https://e/a")))
    }

    func testUnknownPropertyListsWritableOnes() {
        let jobList = Setting.writableJobProperties.keys.sorted().joined(separator: ", ")
        XCTAssertEqual(thrownMessage { try Setting.parse(name: "State", arguments: ["queued"]) },
                       "\"State\" is not a writable property; writable: \(jobList).")
        XCTAssertTrue(jobList.hasPrefix("AllowHttpsToHttpRedirect, CheckRevocation, CustomHeaders, "), jobList)
        XCTAssertEqual(thrownMessage { try Setting.parse(name: "DisplayName", arguments: ["x"], types: Setting.writableFileProperties) },
                       "\"DisplayName\" is not a writable property; writable: ExpectedHash, RemoteName, ValidationState.")
        do {
            _ = try Setting.parse(name: "Nope", arguments: [])
            XCTFail("parsed")
        } catch let error as BitsClientError {
            XCTAssertEqual(error.code, .invalidArgs)
        } catch { XCTFail("\(error)") }
    }

    func testEveryWritableJobPropertyParses() throws {
        let sample = ["s": ["text"], "u": ["7"], "t": ["7"], "b": ["yes"], "as": ["a", "b"]]
        let expected: [String: Variant] = ["s": .string("text"), "u": .uint32(7), "t": .uint64(7), "b": .bool(true),
                                           "as": .strings(["a", "b"])]
        XCTAssertEqual(Setting.writableJobProperties.count, 25)
        for (name, type) in Setting.writableJobProperties {
            let setting = try Setting.parse(name: name.uppercased(), arguments: try XCTUnwrap(sample[type], type))
            XCTAssertEqual(setting.name, name)
            XCTAssertEqual(setting.value, expected[type], name)
            XCTAssertEqual(setting.value.typeString, type, name)
        }
    }

    func testTypedConstructorsMatchTheContract() {
        let settings: [Setting] = [
            .displayName("d"), .description("x"), .priority(.high), .minimumRetryDelay(60), .noProgressTimeout(120),
            .maximumDownloadTime(3600), .notifyFlags(3), .notifyCommandLine(["a"]), .proxyUsage("override"),
            .proxyList("http://p:3128"), .proxyBypassList("localhost"), .customHeaders(["X: 1"]),
            .customHeadersWriteOnly(true), .httpMethod("PUT"), .redirectPolicy("deny"), .allowHttpsToHttpRedirect(false),
            .verifyPeer(true), .verifyHost(false), .checkRevocation(true), .transferPolicy("unmetered"),
            .dynamicContent(true), .highPerformance(false), .maximumDownloadSize(1 << 40),
            .minimumNotificationInterval(250), .replyFileName("/tmp/reply"),
        ]
        // One constructor per writable property, each with the property's D-Bus type.
        XCTAssertEqual(Set(settings.map(\.name)), Set(Setting.writableJobProperties.keys))
        for setting in settings {
            XCTAssertEqual(setting.value.typeString, Setting.writableJobProperties[setting.name], setting.name)
        }
        XCTAssertEqual(Setting.priority(.foreground), Setting(name: "Priority", value: .string("foreground")))
        XCTAssertEqual(Setting.maximumDownloadSize(1 << 40), Setting(name: "MaximumDownloadSize", value: .uint64(1 << 40)))
        XCTAssertEqual(Setting.minimumNotificationInterval(250), Setting(name: "MinimumNotificationInterval", value: .uint32(250)))
        XCTAssertEqual(Setting.notifyCommandLine(["a", "b"]), Setting(name: "NotifyCommandLine", value: .strings(["a", "b"])))
        XCTAssertEqual(Setting.verifyHost(false), Setting(name: "VerifyHost", value: .bool(false)))
        XCTAssertEqual(Setting.displayName("d"), Setting(name: "DisplayName", value: .string("d")))
    }
}
