import BitsCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The outcome of one D-Bus method call.
enum DBusResult: CustomStringConvertible {
    case reply([JSONValue])
    case error(name: String, message: String)

    var values: [JSONValue]? { if case .reply(let v) = self { return v }; return nil }
    var first: JSONValue? { values?.first }
    var errorName: String? { if case .error(let n, _) = self { return n }; return nil }
    var errorMessage: String? { if case .error(_, let m) = self { return m }; return nil }
    var isError: Bool { errorName != nil }

    var description: String {
        switch self {
        case .reply(let v): return "reply \(JSONValue.array(v))"
        case .error(let n, let m): return "error \(n): \(m)"
        }
    }

    init(json: JSONValue) {
        if let name = json["error"]?.string {
            self = .error(name: name, message: json["message"]?.string ?? "")
        } else {
            self = .reply(json["reply"]?.array ?? [])
        }
    }
}

/// Builds the JSON for a variant argument: `variant("u", 5)`.
func variant(_ signature: String, _ value: Any) -> [String: Any] { ["type": signature, "value": value] }

/// A persistent D-Bus client connection owned by one user: `bits_listen.py serve` started with
/// setpriv as that user (or as root when `user` is nil). Requests and replies are JSON lines.
/// One connection per client, so the service sees a stable unique name per user.
final class BusClient {
    let user: TestUser?
    let address: String
    let label: String
    private(set) var uniqueName = ""
    private let process: ManagedProcess
    private let input = Pipe()
    private let output = Pipe()
    private let reader: LineReader
    private let lock = NSLock()
    private var nextID = 1

    init(user: TestUser?, address: String, script: String, logPath: String) throws {
        self.user = user
        self.address = address
        label = user?.name ?? "root"
        process = try ManagedProcess(name: "client-\(label)",
                                     command: ["/usr/bin/python3", script, "serve", "--address", address],
                                     as: user, logPath: logPath, stdout: output, stdin: input)
        reader = LineReader(pipe: output)
        guard let line = reader.nextLine(timeout: 15), let json = try? JSONValue.parse(line),
              json["ready"]?.bool == true else {
            process.stop()
            throw HarnessError("D-Bus client for \(label) did not start; log:\n\(process.logTail())")
        }
        uniqueName = json["unique_name"]?.string ?? ""
    }

    var isRunning: Bool { process.isRunning }

    /// One method call. `args` are JSON-encodable values matching `signature` (see
    /// bits_listen.py: structs as arrays, dicts as objects, variants via `variant(_:_:)`).
    @discardableResult
    func call(dest: String = BitsNames.service, path: String, interface: String, method: String,
              signature: String = "", args: [Any] = [], timeout: TimeInterval = 30,
              interactive: Bool = false) -> DBusResult {
        lock.lock()
        defer { lock.unlock() }
        let id = nextID
        nextID += 1
        let request: [String: Any] = ["id": id, "dest": dest, "path": path, "interface": interface,
                                      "method": method, "signature": signature, "args": args,
                                      "timeout": timeout, "interactive": interactive]
        guard JSONSerialization.isValidJSONObject(request),
              var data = try? JSONSerialization.data(withJSONObject: request) else {
            return .error(name: "harness.BadArguments", message: "cannot encode \(args)")
        }
        data.append(0x0A)
        do {
            try input.fileHandleForWriting.write(contentsOf: data)
        } catch {
            return .error(name: "harness.ClientDied",
                          message: "client \(label) is gone (\(process.exitDescription)): \(process.logTail(lines: 10))")
        }
        let deadline = Date().addingTimeInterval(timeout + 15)
        while Date() < deadline {
            guard let line = reader.nextLine(timeout: deadline.timeIntervalSinceNow) else { break }
            guard let json = try? JSONValue.parse(line) else { continue }
            if json["id"]?.int == id { return DBusResult(json: json) }
        }
        return .error(name: "harness.NoReply",
                      message: "no reply from client \(label) for \(interface).\(method) on \(path) (\(process.exitDescription)); log: \(process.logTail(lines: 10))")
    }

    // MARK: conveniences

    func nameHasOwner(_ name: String) -> Bool {
        call(dest: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus",
             method: "NameHasOwner", signature: "s", args: [name], timeout: 5).first?.bool ?? false
    }

    func getProperty(_ path: String, _ interface: String, _ name: String, dest: String = BitsNames.service) -> DBusResult {
        call(dest: dest, path: path, interface: "org.freedesktop.DBus.Properties", method: "Get",
             signature: "ss", args: [interface, name])
    }

    func getAll(_ path: String, _ interface: String, dest: String = BitsNames.service) -> DBusResult {
        call(dest: dest, path: path, interface: "org.freedesktop.DBus.Properties", method: "GetAll",
             signature: "s", args: [interface])
    }

    func setProperty(_ path: String, _ interface: String, _ name: String, type: String, value: Any,
                     dest: String = BitsNames.service) -> DBusResult {
        call(dest: dest, path: path, interface: "org.freedesktop.DBus.Properties", method: "Set",
             signature: "ssv", args: [interface, name, variant(type, value)])
    }

    func close() {
        try? input.fileHandleForWriting.close()
        // EOF makes the client exit by itself; stop() waits for that, then kills.
        let deadline = Date().addingTimeInterval(2)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        process.stop(grace: 1)
    }
}

/// One-shot call on a fresh connection (`bits_listen.py call`), for when a brand-new connection
/// matters (e.g. a connection that has never called the service before).
func oneShotCall(as user: TestUser?, address: String, script: String, dest: String = BitsNames.service,
                 path: String, interface: String, method: String, signature: String = "",
                 args: [Any] = []) throws -> DBusResult {
    let argsData = try JSONSerialization.data(withJSONObject: args)
    let r = try ProcessRunner.run(["/usr/bin/python3", script, "call", "--address", address, "--dest", dest,
                                   "--path", path, "--interface", interface, "--method", method,
                                   "--signature", signature, "--args", String(decoding: argsData, as: UTF8.self)],
                                  as: user, timeout: 45)
    guard let line = r.stdout.split(separator: "\n").last, let json = try? JSONValue.parse(String(line)) else {
        throw HarnessError("one-shot call failed: \(r.summary)")
    }
    return DBusResult(json: json)
}

/// The fixed names of the contract (api.md), from its tables in BitsCore (generated from
/// dbus/*.xml), and the bus's own error names.
enum BitsNames {
    static let service = BitsContract.serviceName
    static let managerPath = BitsContract.managerPath
    static let manager = BitsInterface.manager.rawValue
    static let job = BitsInterface.job.rawValue
    static let file = BitsInterface.file.rawValue
    static let objectManager = StandardInterface.objectManager
    static let properties = StandardInterface.properties

    static let notFound = ServiceError.Name.notFound.rawValue
    static let invalidState = ServiceError.Name.invalidState.rawValue
    static let empty = ServiceError.Name.empty.rawValue
    static let tooManyJobsPerUser = ServiceError.Name.tooManyJobsPerUser.rawValue
    static let notSupported = ServiceError.Name.notSupported.rawValue
    static let invalidArgs = ServiceError.Name.invalidArgs.rawValue
    static let accessDenied = ServiceError.Name.accessDenied.rawValue
    static let unknownObject = "org.freedesktop.DBus.Error.UnknownObject"
    static let unknownMethod = "org.freedesktop.DBus.Error.UnknownMethod"
}
