import BitsSystem

/// Local file names given on the command line: made absolute, joined, a URL's file name.
enum LocalPaths {
    /// `path` made absolute against the current directory, with `.` and `..` segments resolved
    /// as text as a URL's are (RFC 3986 "remove dot segments": "sub/../x/./a" → "<cwd>/x/a",
    /// empty segments kept) and no trailing slash; an absolute path is kept as it is.
    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        // Without a current directory (deleted, or beyond PATH_MAX), relative to the root: a
        // name the service then refuses or the caller sees in the error.
        let base = (try? SystemPaths.currentDirectory()) ?? "/"
        let input = join(base, path).split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        var output: [Substring] = []
        for (index, segment) in input.enumerated() {
            let isLast = index == input.count - 1
            switch segment {
            case ".": if isLast { output.append("") }
            case "..":
                _ = output.popLast()
                if isLast { output.append("") }
            default: output.append(segment)
            }
        }
        while output.count > 1, output.last == "" { output.removeLast() }  // trailing slashes
        return "/" + output.joined(separator: "/")
    }

    /// `name` inside `directory`, as NSString's `appendingPathComponent` joins them ("/out" or
    /// "/out/" + "a" → "/out/a").
    static func join(_ directory: String, _ name: String) -> String {
        directory.isEmpty ? name : directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// Whether `path` names a directory (a symbolic link to one counts).
    static func isDirectory(_ path: String) -> Bool {
        (try? SystemPaths.status(path))?.type == .directory
    }

    /// The file name a URL's path ends with, percent-escapes decoded
    /// ("https://e/x/my%20file.txt?sig=1" → "my file.txt"); nil when there is none ("https://e/")
    /// or its escapes are malformed.
    static func fileName(ofURL url: String) -> String? {
        var rest = Substring(url)
        if let end = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) { rest = rest[..<end] }
        if let scheme = rest.firstRange(of: "://") {
            let afterAuthority = rest[scheme.upperBound...]
            rest = afterAuthority[(afterAuthority.firstIndex(of: "/") ?? afterAuthority.endIndex)...]
        }
        guard let last = rest.split(separator: "/").last else { return nil }
        return percentDecoded(last)
    }

    /// `%XX` escapes decoded; nil for a malformed escape, a NUL or bytes that are not UTF-8.
    static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else { bytes.append(byte); continue }
            guard let high = iterator.next(), let low = iterator.next(),
                  let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16), value != 0 else { return nil }
            bytes.append(value)
        }
        return String(validating: bytes, as: UTF8.self)
    }
}

/// An absolute path for a local file name given on the command line (`LocalPaths.absolute`).
func absolutePath(_ path: String) -> String { LocalPaths.absolute(path) }
