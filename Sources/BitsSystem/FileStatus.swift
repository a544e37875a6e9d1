import Glibc

/// What an inode is.
public enum FileType: Sendable, Equatable {
    case regular, directory, fifo, socket, characterDevice, blockDevice, symbolicLink, unknown

    init(mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFREG: self = .regular
        case S_IFDIR: self = .directory
        case S_IFIFO: self = .fifo
        case S_IFSOCK: self = .socket
        case S_IFCHR: self = .characterDevice
        case S_IFBLK: self = .blockDevice
        case S_IFLNK: self = .symbolicLink
        default: self = .unknown
        }
    }

    /// The type in words, for errors naming it ("a FIFO").
    public var words: String {
        switch self {
        case .regular: "a regular file"
        case .directory: "a directory"
        case .fifo: "a FIFO"
        case .socket: "a socket"
        case .characterDevice: "a character device"
        case .blockDevice: "a block device"
        case .symbolicLink: "a symbolic link"
        case .unknown: "not a regular file"
        }
    }
}

/// The parts of `struct stat` the daemon looks at.
public struct FileStatus: Sendable, Equatable {
    public let type: FileType
    public let device: UInt64
    public let inode: UInt64
    public let uid: UInt32
    /// The permission bits (mode & 07777).
    public let permissions: UInt32
    /// st_size (a file's length in bytes).
    public let size: Int64
    /// The modification time: seconds and nanoseconds since the epoch.
    public let modifiedSeconds: Int64
    public let modifiedNanoseconds: Int64

    init(_ st: stat) {
        type = FileType(mode: st.st_mode)
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        uid = st.st_uid
        permissions = UInt32(st.st_mode & 0o7777)
        size = Int64(st.st_size)
        modifiedSeconds = Int64(st.st_mtim.tv_sec)
        modifiedNanoseconds = Int64(st.st_mtim.tv_nsec)
    }

    /// The length as an unsigned count (a negative st_size counts as 0).
    public var length: UInt64 { UInt64(clamping: size) }
}

/// A file time (what `setTimes` sets): seconds and nanoseconds since the epoch.
public struct FileTime: Sendable, Equatable {
    public var seconds: Int64
    public var nanoseconds: Int
    public init(seconds: Int64, nanoseconds: Int) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }
}
