import ArgumentParser
@testable import BitsClient
import XCTest

/// The message of the error `body` throws (ValidationError, BitsClientError or anything
/// else as its description); fails the test if nothing is thrown.
func thrownMessage<T>(_ body: () throws -> T, file: StaticString = #filePath, line: UInt = #line) -> String? {
    do {
        _ = try body()
        XCTFail("expected an error", file: file, line: line)
        return nil
    } catch let error as ValidationError {
        return error.message
    } catch let error as BitsClientError {
        return error.message
    } catch {
        return "\(error)"
    }
}

/// Pairs as comparable arrays (tuples are not Equatable).
func flatten(_ pairs: [(remote: String, local: String)]) -> [[String]] { pairs.map { [$0.remote, $0.local] } }
func flatten(_ ranges: [(offset: UInt64, length: UInt64)]) -> [[UInt64]] { ranges.map { [$0.offset, $0.length] } }

/// Stands in for a `BitsClient` where a handle needs one but no call is made: `BitsClient`
/// connects to a bus when created, and these tests use none. Only the reference is stored
/// (never dereferenced as a `BitsClient`), and the object lives for the whole run.
private final class DetachedClientPlaceholder: Sendable {}
private let detachedClientPlaceholder = DetachedClientPlaceholder()

func detachedClient() -> BitsClient { unsafeBitCast(detachedClientPlaceholder, to: BitsClient.self) }
