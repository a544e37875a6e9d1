import BitsCore

/// One HTTP request/response pair with an optional body read from a file — a packet of the
/// BITS upload protocol (`BITS_POST` Ping, Create-Session, Fragment, Close-Session,
/// Cancel-Session). Unlike a download, every final response is delivered, whatever its status,
/// with its headers and (up to `maxResponseBytes` of) its body: the protocol's errors live in
/// the headers of non-2xx answers.
public struct ExchangeRequest: Sendable, Equatable {
    public var id: TransferID
    public var url: String
    /// Request method, e.g. `BITS_POST`.
    public var method: String
    /// Extra request headers, `Name: value`. `Content-Length` is set by the engine from the
    /// body (also 0), so a given one is dropped.
    public var headers: [String]
    /// The body: `length` bytes of `descriptor` from `offset` (the engine never closes it).
    public var body: Body?
    public var maxResponseBytes: Int
    /// Credentials, TLS checks, proxy (method, redirects and ranges are not used).
    public var http: HTTPOptions
    /// Send-rate cap in bytes per second; 0 = unlimited.
    public var maxBytesPerSecond: UInt64
    public var stallTimeoutSeconds: UInt32
    public var connectTimeoutSeconds: UInt32

    public struct Body: Sendable, Equatable {
        public var descriptor: Int32
        public var offset: UInt64
        public var length: UInt64
        public init(descriptor: Int32, offset: UInt64, length: UInt64) {
            self.descriptor = descriptor
            self.offset = offset
            self.length = length
        }
    }

    public init(id: TransferID, url: String, method: String, headers: [String] = [], body: Body? = nil,
                maxResponseBytes: Int = 1 << 20, http: HTTPOptions = HTTPOptions(), maxBytesPerSecond: UInt64 = 0,
                stallTimeoutSeconds: UInt32 = 60, connectTimeoutSeconds: UInt32 = 30) {
        self.id = id
        self.url = url
        self.method = method
        self.headers = headers
        self.body = body
        self.maxResponseBytes = maxResponseBytes
        self.http = http
        self.maxBytesPerSecond = maxBytesPerSecond
        self.stallTimeoutSeconds = stallTimeoutSeconds
        self.connectTimeoutSeconds = connectTimeoutSeconds
    }
}

/// The final response of an exchange.
public struct ExchangeResponse: Sendable, Equatable {
    public var status: Int
    /// Header fields of the final response, names as sent.
    public var headers: [HeaderField]
    /// The body, cut at `maxResponseBytes` (`truncated` then says so).
    public var body: [UInt8]
    public var truncated: Bool
    /// Body bytes sent.
    public var bytesSent: UInt64

    public struct HeaderField: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(status: Int, headers: [HeaderField], body: [UInt8] = [], truncated: Bool = false, bytesSent: UInt64 = 0) {
        self.status = status
        self.headers = headers
        self.body = body
        self.truncated = truncated
        self.bytesSent = bytesSent
    }

    /// The first value of a header, compared case-insensitively.
    public func value(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }
}

/// What became of an exchange: a response (any status), a transport failure (connection,
/// TLS, timeouts, reading the body file), or cancellation.
public enum ExchangeOutcome: Sendable, Equatable {
    case response(ExchangeResponse)
    case failed(TransferFailure, bytesSent: UInt64)
    case cancelled
}
