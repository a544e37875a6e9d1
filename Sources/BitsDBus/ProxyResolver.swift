import CGLib

/// The system's proxy settings through GIO's GProxyResolver (glib-networking: GNOME
/// settings, libproxy/WPAD, environment). Answers nil when GIO has no real resolver (then
/// libcurl's own environment handling applies) or says "direct://".
package final class ProxyResolver: @unchecked Sendable {
    private let loop: MainLoopThread

    /// Starts each lookup on `loop`'s thread, whose main context then delivers the answer.
    package init(loop: MainLoopThread) { self.loop = loop }

    /// The first proxy GIO gives for `url` (a URI such as `http://proxy:3128`), or nil for none.
    package func proxy(for url: String) async -> String? {
        await withCheckedContinuation { continuation in
            let box = Unmanaged.passRetained(ResolverCompletion { continuation.resume(returning: $0) }).toOpaque()
            loop.async {
                let started = bits_proxy_lookup(url, { proxy, data in
                    let box = Unmanaged<ResolverCompletion>.fromOpaque(data!).takeRetainedValue()
                    var answer: String?
                    if let proxy {
                        let text = String(cString: proxy)
                        g_free(proxy)
                        if text != "direct://" { answer = text }
                    }
                    box.completion(answer)
                }, box)
                if started == 0 {
                    Unmanaged<ResolverCompletion>.fromOpaque(box).takeRetainedValue().completion(nil)
                }
            }
        }
    }
}

private final class ResolverCompletion {
    let completion: (String?) -> Void
    init(_ completion: @escaping (String?) -> Void) { self.completion = completion }
}
