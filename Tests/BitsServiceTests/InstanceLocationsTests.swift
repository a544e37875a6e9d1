import BitsService
import XCTest

/// Where a per-user instance keeps its queue and finds its configuration (XDG base dirs).
final class InstanceLocationsTests: XCTestCase {
    private let none: (String) -> Bool = { _ in false }

    func testXDGVariablesWin() {
        let at = InstanceLocations.perUser(environment: ["HOME": "/home/a", "XDG_STATE_HOME": "/s", "XDG_CONFIG_HOME": "/c"],
                                           home: { "/unused" }, exists: { $0 == "/c/bits/bitsd.conf" })
        XCTAssertEqual(at, InstanceLocations(stateDirectory: "/s/bits", config: "/c/bits/bitsd.conf"))
    }

    func testDefaultsUnderHomeAndTheSystemConfigurationWithoutAUserOne() {
        let at = InstanceLocations.perUser(environment: ["HOME": "/home/a"], home: { nil }, exists: none)
        XCTAssertEqual(at, InstanceLocations(stateDirectory: "/home/a/.local/state/bits", config: "/etc/bits/bitsd.conf"))
        let withConfig = InstanceLocations.perUser(environment: ["HOME": "/home/a"], home: { nil },
                                                   exists: { $0 == "/home/a/.config/bits/bitsd.conf" })
        XCTAssertEqual(withConfig.config, "/home/a/.config/bits/bitsd.conf")
    }

    /// The specification: a relative XDG path is invalid and ignored; no HOME → the user database.
    func testRelativePathsAreIgnoredAndAMissingHomeComesFromTheUserDatabase() {
        let at = InstanceLocations.perUser(environment: ["XDG_STATE_HOME": "state", "HOME": "rel"],
                                           home: { "/var/lib/u" }, exists: none)
        XCTAssertEqual(at.stateDirectory, "/var/lib/u/.local/state/bits")
    }

    func testTheSystemServiceKeepsItsFixedPlaces() {
        XCTAssertEqual(InstanceLocations.system, InstanceLocations(stateDirectory: "/var/lib/bits", config: "/etc/bits/bitsd.conf"))
    }
}
