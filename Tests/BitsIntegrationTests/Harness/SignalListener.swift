import Foundation

/// One message received by a listener.
struct ReceivedMessage: CustomStringConvertible {
    let type: String
    let sender: String
    let path: String
    let interface: String
    let member: String
    let args: [JSONValue]
    let raw: String

    var description: String { raw }

    /// For PropertiesChanged: the changed dictionary.
    var changedProperties: [String: JSONValue] { args.count > 1 ? (args[1].object ?? [:]) : [:] }
}

/// `bits_listen.py listen` run as a test user: subscribes to every signal from
/// org.example.Bits (optionally also tries to eavesdrop), calls the service once so it counts
/// as a connection that "has called the service", then prints one JSON line per message.
final class SignalListener {
    let user: TestUser?
    let eavesdrop: Bool
    private(set) var uniqueName = ""
    private(set) var readyInfo: JSONValue = .null
    private let process: ManagedProcess
    private let output = Pipe()
    private let reader: LineReader
    private var received: [ReceivedMessage] = []
    private let lock = NSLock()

    init(user: TestUser?, address: String, script: String, logPath: String,
         eavesdrop: Bool = false, callService: Bool = true, objectManager: Bool = false) throws {
        self.user = user
        self.eavesdrop = eavesdrop
        var cmd = ["/usr/bin/python3", script, "listen", "--address", address]
        if eavesdrop { cmd.append("--eavesdrop") }
        cmd.append(callService ? "--call-service" : "--no-call-service")
        if objectManager { cmd.append("--object-manager") }
        process = try ManagedProcess(name: "listener-\(user?.name ?? "root")", command: cmd, as: user,
                                     logPath: logPath, stdout: output)
        reader = LineReader(pipe: output)
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            guard let line = reader.nextLine(timeout: deadline.timeIntervalSinceNow) else { break }
            guard let json = try? JSONValue.parse(line) else { continue }
            if json["ready"]?.bool == true {
                uniqueName = json["unique_name"]?.string ?? ""
                readyInfo = json
                return
            }
        }
        process.stop()
        throw HarnessError("listener for \(user?.name ?? "root") never became ready; log:\n\(process.logTail())")
    }

    /// The service call the listener made at start (nil when told not to call).
    var serviceCall: DBusResult? {
        guard let c = readyInfo["service_call"], c != .null else { return nil }
        return DBusResult(json: c)
    }

    /// Every message received so far (signals and, for eavesdroppers, anything else).
    var messages: [ReceivedMessage] {
        lock.lock()
        defer { lock.unlock() }
        for line in reader.drain() {
            guard let json = try? JSONValue.parse(line), json["ready"] == nil, json["note"] == nil else { continue }
            received.append(ReceivedMessage(type: json["type"]?.string ?? "",
                                            sender: json["sender"]?.string ?? "",
                                            path: json["path"]?.string ?? "",
                                            interface: json["interface"]?.string ?? "",
                                            member: json["member"]?.string ?? "",
                                            args: json["args"]?.array ?? [],
                                            raw: line))
        }
        return received
    }

    /// Waits until a message matching `predicate` has arrived.
    @discardableResult
    func waitFor(timeout: TimeInterval, _ predicate: (ReceivedMessage) -> Bool) -> ReceivedMessage? {
        var found: ReceivedMessage?
        waitUntil(timeout: timeout, interval: 0.05) {
            found = messages.first(where: predicate)
            return found != nil
        }
        return found
    }

    /// Messages whose raw text mentions `token` (a job's hex id, a URL tag, a local path).
    func messages(mentioning token: String) -> [ReceivedMessage] {
        messages.filter { $0.raw.contains(token) }
    }

    func stop() { process.stop(grace: 1) }
}
