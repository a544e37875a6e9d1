import BitsCore
import BitsDBus
import BitsService
import BitsSystem

/// Who is behind each unique bus name, from `GetConnectionCredentials` of the bus itself
/// (never from the caller). Also remembers which connections have called the service, per
/// uid: signals about a job go only to its owner's connections (and administrators that
/// listed all users' jobs). Signals of file objects (their `InterfacesAdded`,
/// `InterfacesRemoved` and `PropertiesChanged`) go only to those of them that called
/// `GetManagedObjects` (ObjectManager clients). Entries go when the bus reports the name gone.
final class CallerRegistry: @unchecked Sendable {
    private let lock = ConditionLock()
    private var uids: [String: UInt32] = [:]
    /// The process behind each connection, when the bus knows it (for its umask).
    private var pids: [String: UInt32] = [:]
    private var listenersByUID: [UInt32: Set<String>] = [:]
    private var allUsersListeners: Set<String> = []
    /// Connections that called `GetManagedObjects`: they mirror file objects too.
    private var objectManagerClients: Set<String> = []
    private let bus: BusConnection

    init(bus: BusConnection) { self.bus = bus }

    /// The uid of `sender`, asking the bus once per connection. Any failure denies.
    func uid(of sender: String) async throws -> UInt32 {
        if let cached = lock.withLock({ uids[sender] }) { return cached }
        guard !sender.isEmpty else { throw ServiceError.accessDenied("The caller has no bus name; access denied.") }
        let (uid, pid): (UInt32, UInt32?) = try await withCheckedThrowingContinuation { continuation in
            bus.call(destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus",
                     interface: "org.freedesktop.DBus", method: "GetConnectionCredentials",
                     arguments: .tuple([.string(sender)]), replyType: "(a{sv})") { result in
                switch result {
                case .success(let reply):
                    if case .dictionary(_, _, let entries)? = reply.items.first,
                       let entry = entries.first(where: { $0.0.stringValue == "UnixUserID" }),
                       let uid = entry.1.unboxed.uint32Value {
                        let pid = entries.first(where: { $0.0.stringValue == "ProcessID" })?.1.unboxed.uint32Value
                        continuation.resume(returning: (uid, pid))
                    } else {
                        continuation.resume(throwing: ServiceError.accessDenied("The bus did not report a user for \(sender); access denied."))
                    }
                case .failure:
                    continuation.resume(throwing: ServiceError.accessDenied("The identity of \(sender) could not be established; access denied."))
                }
            }
        }
        lock.withLock {
            uids[sender] = uid
            pids[sender] = pid
            listenersByUID[uid, default: []].insert(sender)
        }
        return uid
    }

    /// The umask of the process behind `sender` now (from /proc), nil when unknown.
    func umask(of sender: String) -> UInt32? {
        guard let pid = lock.withLock({ pids[sender] }) else { return nil }
        return ProcessStatus.umask(pid: pid)
    }

    /// The cached uid of `sender` without asking the bus (for synchronous callbacks).
    func cachedUID(of sender: String) -> UInt32? { lock.withLock { uids[sender] } }

    /// Synchronous lookup for GDBus's synchronous callbacks (enumeration, introspection).
    func uidBlocking(of sender: String) -> UInt32? {
        if let cached = cachedUID(of: sender) { return cached }
        guard let reply = try? bus.callSync(destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus",
                                            interface: "org.freedesktop.DBus", method: "GetConnectionUnixUser",
                                            arguments: .tuple([.string(sender)]), replyType: "(u)", timeoutMs: 5000),
              let uid = reply.items.first?.uint32Value else { return nil }
        return uid
    }

    /// An administrator connection asked for every user's jobs: it hears about all of them.
    func addAllUsersListener(_ sender: String) { lock.withLock { _ = allUsersListeners.insert(sender) } }

    /// True for a connection that polkit authorized to list every user's jobs.
    func isAllUsersListener(_ sender: String) -> Bool { lock.withLock { allUsersListeners.contains(sender) } }

    /// A connection called `GetManagedObjects`: from now on it hears about file objects too.
    func addObjectManagerClient(_ sender: String) { lock.withLock { _ = objectManagerClients.insert(sender) } }

    /// The connections that should hear about a job of `owner`.
    func listeners(forOwner owner: UInt32) -> Set<String> {
        lock.withLock { listenersByUID[owner, default: []].union(allUsersListeners) }
    }

    /// The connections that should hear about the file objects of a job of `owner`: those of
    /// `listeners(forOwner:)` that called `GetManagedObjects`.
    func fileListeners(forOwner owner: UInt32) -> Set<String> {
        lock.withLock { listenersByUID[owner, default: []].union(allUsersListeners).intersection(objectManagerClients) }
    }

    /// The bus says `name` has gone.
    func forget(_ name: String) {
        lock.withLock {
            pids[name] = nil
            if let uid = uids.removeValue(forKey: name) {
                listenersByUID[uid]?.remove(name)
                if listenersByUID[uid]?.isEmpty == true { listenersByUID[uid] = nil }
            }
            allUsersListeners.remove(name)
            objectManagerClients.remove(name)
        }
    }
}
