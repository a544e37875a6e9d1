import BitsDBus
import XCTest
@testable import BitsBus

/// How the power monitor reads UPower's `PropertiesChanged`: only `OnBattery` counts, a value
/// of another type reads as "not on battery", and a signal without it changes nothing.
final class PowerMonitorTests: XCTestCase {
    private func changed(_ entries: [(String, Variant)]) -> Variant {
        .dictionary(keyType: "s", valueType: "v", entries.map { (.string($0.0), .variant($0.1)) })
    }

    func testOnBatteryIsReadFromTheChangedProperties() {
        XCTAssertEqual(PowerMonitor.onBattery(in: changed([("OnBattery", .bool(true))])), true)
        XCTAssertEqual(PowerMonitor.onBattery(in: changed([("LidIsClosed", .bool(true)), ("OnBattery", .bool(false))])), false)
    }

    func testOtherPropertiesAndShapesChangeNothing() {
        XCTAssertNil(PowerMonitor.onBattery(in: changed([])))
        XCTAssertNil(PowerMonitor.onBattery(in: changed([("LidIsClosed", .bool(true))])))
        XCTAssertNil(PowerMonitor.onBattery(in: .string("OnBattery")))
    }

    func testAValueOfTheWrongTypeIsNotOnBattery() {
        XCTAssertEqual(PowerMonitor.onBattery(in: changed([("OnBattery", .string("yes"))])), false)
        XCTAssertEqual(PowerMonitor.onBattery(in: changed([("OnBattery", .uint32(1))])), false)
    }
}
