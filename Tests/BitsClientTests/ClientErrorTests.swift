@testable import BitsClient
@testable import bitsctl
import XCTest

final class ClientErrorTests: XCTestCase {
    func code(_ name: String) -> BitsClientError.Code { BitsClientError(name: name, message: "m").code }

    func testServiceErrorNames() {
        let expected: [String: BitsClientError.Code] = [
            "org.example.Bits.Error.NotFound": .notFound,
            "org.example.Bits.Error.InvalidState": .invalidState,
            "org.example.Bits.Error.Empty": .empty,
            "org.example.Bits.Error.TooManyJobsPerUser": .tooManyJobsPerUser,
            "org.example.Bits.Error.TooManyJobsPerMachine": .tooManyJobsPerMachine,
            "org.example.Bits.Error.TooManyFilesInJob": .tooManyFilesInJob,
            "org.example.Bits.Error.TooManyRangesInFile": .tooManyRangesInFile,
            "org.example.Bits.Error.TooManyFiles": .tooManyFiles,
            "org.example.Bits.Error.TooLarge": .tooLarge,
            "org.example.Bits.Error.NotSupported": .notSupported,
        ]
        for (name, code) in expected { XCTAssertEqual(self.code(name), code, name) }
    }

    func testFreedesktopNames() {
        let expected: [String: BitsClientError.Code] = [
            "org.freedesktop.DBus.Error.InvalidArgs": .invalidArgs,
            "org.freedesktop.DBus.Error.AccessDenied": .accessDenied,
            "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired": .interactiveAuthorizationRequired,
            "org.freedesktop.DBus.Error.Failed": .failed,
            "org.freedesktop.DBus.Error.ServiceUnknown": .serviceUnavailable,
            "org.freedesktop.DBus.Error.NameHasNoOwner": .serviceUnavailable,
            "org.freedesktop.DBus.Error.Disconnected": .serviceUnavailable,
            "org.freedesktop.DBus.Error.FileNotFound": .serviceUnavailable,
            "org.freedesktop.DBus.Error.NoServer": .serviceUnavailable,
            "org.freedesktop.DBus.Error.Spawn.ChildExited": .serviceUnavailable,
            "org.freedesktop.DBus.Error.Spawn.ExecFailed": .serviceUnavailable,
            "org.freedesktop.DBus.Error.Spawn.ServiceNotFound": .serviceUnavailable,
            "org.freedesktop.DBus.Error.NoReply": .timedOut,
            "org.freedesktop.DBus.Error.Timeout": .timedOut,
            "org.freedesktop.DBus.Error.TimedOut": .timedOut,
            "org.freedesktop.DBus.Error.UnknownObject": .notFound,
            "org.freedesktop.DBus.Error.UnknownMethod": .notFound,
            "org.freedesktop.DBus.Error.UnknownInterface": .notFound,
            "org.freedesktop.DBus.Error.UnknownProperty": .invalidArgs,
            "org.freedesktop.DBus.Error.PropertyReadOnly": .invalidArgs,
        ]
        for (name, code) in expected { XCTAssertEqual(self.code(name), code, name) }
    }

    func testUnknownNamesAreFailed() {
        for name in ["org.example.Other.Error.Oops", "", "org.example.Bits.Error.notfound", "org.freedesktop.DBus.Error.SpawnX"] {
            XCTAssertEqual(code(name), .failed, name)
        }
    }

    func testErrorKeepsNameAndMessage() {
        let error = BitsClientError(name: "org.example.Bits.Error.NotFound", message: "No job {x}.")
        XCTAssertEqual(error.name, "org.example.Bits.Error.NotFound")
        XCTAssertEqual(error.message, "No job {x}.")
        XCTAssertEqual(error.description, "No job {x}.")
        XCTAssertEqual(BitsClientError(name: "org.example.Bits.Error.Empty", message: "").description,
                       "org.example.Bits.Error.Empty")
    }

    func testExitStatusPerCode() {
        let expected: [BitsClientError.Code: Int32] = [
            .notFound: 2, .accessDenied: 3, .interactiveAuthorizationRequired: 3,
            .serviceUnavailable: 4, .timedOut: 4,
            .invalidState: 1, .empty: 1, .tooManyJobsPerUser: 1, .tooManyJobsPerMachine: 1, .tooManyFilesInJob: 1,
            .tooManyRangesInFile: 1, .tooManyFiles: 1, .tooLarge: 1, .notSupported: 1, .invalidArgs: 1, .failed: 1,
        ]
        XCTAssertEqual(Set(expected.keys), Set(BitsClientError.Code.allCases), "every code has an expected status")
        for code in BitsClientError.Code.allCases {
            XCTAssertEqual(ExitStatus.code(for: BitsClientError(code: code, name: "", message: "")), expected[code], "\(code)")
        }
        XCTAssertEqual(ExitStatus.failed, 1)
        XCTAssertEqual(ExitStatus.notFound, 2)
        XCTAssertEqual(ExitStatus.accessDenied, 3)
        XCTAssertEqual(ExitStatus.unavailable, 4)
        XCTAssertEqual(ExitStatus.interrupted, 130)
    }

    func testExitStatusFromBusNames() {
        XCTAssertEqual(ExitStatus.code(for: BitsClientError(name: "org.freedesktop.DBus.Error.ServiceUnknown", message: "")), 4)
        XCTAssertEqual(ExitStatus.code(for: BitsClientError(name: "org.freedesktop.DBus.Error.UnknownObject", message: "")), 2)
        XCTAssertEqual(ExitStatus.code(for: BitsClientError(name: "org.freedesktop.DBus.Error.AccessDenied", message: "")), 3)
    }
}
