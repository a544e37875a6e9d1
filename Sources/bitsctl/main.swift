#if canImport(Glibc)
import Glibc
#endif

// Die quietly on a closed pipe (`bitsctl list --json | head`) like other command-line tools,
// instead of failing the write.
signal(SIGPIPE, SIG_DFL)
await Bitsctl.main()
