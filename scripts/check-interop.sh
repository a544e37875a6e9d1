#!/usr/bin/env bash
# Checks that C interop stays where docs/architecture.md ("C interop") puts it, in the Swift
# files of Sources/ and examples/ (tests may use whatever they need):
#
#   - CGLib (GLib/GIO) is imported only in Sources/BitsDBus;
#   - CCurl (libcurl) only in Sources/BitsTransfer/Curl*.swift;
#   - CCrypto (libcrypto, file digests) only in Sources/BitsTransfer/FileDigest.swift;
#   - CSQLite (SQLite, the durable queue) only in Sources/BitsStore/SQLiteDatabase.swift;
#   - CSystem and Glibc only in Sources/BitsSystem;
#   - raw system calls (open, close, fsync, rename, ...) are made only in Sources/BitsSystem.
#     Foundation re-exports Glibc, so imports alone prove nothing: calls are looked for too
#     (an unqualified or `Glibc.`-qualified call of a listed name with unlabelled arguments;
#     `FileDescriptor.close(fd)` or `opened.close()` are Swift methods, not libc's).
#
# What still breaks a rule is listed below, each entry with its reason. An entry that no longer
# matches anything fails the check too: remove it. Exit status 0 when clean, 1 with one line
# per finding otherwise. Run by `make check` and by the unit test InteropRuleTests (Tests/BitsCoreTests).
set -euo pipefail
cd "$(dirname "$0")/.."

# --- Allowlists: "path" (imports) or "path:name" (calls), then "# reason". -----------------

# Files outside BitsDBus that import CGLib: none.
CGLIB_ALLOWED=()

# Files outside Sources/BitsTransfer/Curl*.swift that import CCurl: none.
CCURL_ALLOWED=()

# Files other than Sources/BitsTransfer/FileDigest.swift that import CCrypto: none.
CCRYPTO_ALLOWED=()

# Files other than Sources/BitsStore/SQLiteDatabase.swift that import CSQLite: none.
CSQLITE_ALLOWED=()

# Files outside BitsSystem that import CSystem or Glibc: none.
SYSTEM_IMPORT_ALLOWED=()

# Raw calls outside BitsSystem, as path:name: none.
SYSCALL_ALLOWED=()

# --- The calls looked for. --------------------------------------------------------------------

# System calls (and the libc calls that wrap process-wide state) taking arguments.
CALLS=(
  open openat openat2 creat close dup dup2 dup3 fcntl ioctl
  read write pread pwrite readv writev lseek
  fsync fdatasync sync_file_range syncfs ftruncate truncate fallocate
  rename renameat renameat2 unlink unlinkat link linkat symlink symlinkat readlink readlinkat
  mkdir mkdirat rmdir chmod fchmod fchmodat chown fchown fchownat lchown umask
  stat lstat fstat fstatat statx access faccessat futimens utimensat utimes
  setuid setgid seteuid setegid setresuid setresgid setgroups setfsuid setfsgid initgroups
  getpwuid getpwuid_r getpwnam getpwnam_r getgrouplist
  unshare clone posix_spawn posix_spawnp execv execve execvp waitpid waitid kill raise
  signal sigaction sigprocmask pthread_sigmask sigwait pipe pipe2 socket
  isatty tcgetattr tcsetattr pthread_create pthread_join pthread_detach
  clock_gettime gmtime_r localtime_r strerror
)
# Calls without arguments (a method of that name would take none either, so these are
# matched with empty parentheses too).
CALLS_NOARGS=(getuid geteuid getgid getegid getpid getppid fork sync)

# --- The checks. ------------------------------------------------------------------------------

failures=0
fail() { echo "check-interop: $*"; failures=$((failures + 1)); }

swift_files() { find Sources examples -name '*.swift' -print 2>/dev/null | sort; }

in_list() {
  local needle=$1; shift
  local item
  for item in "$@"; do [[ "$item" == "$needle" ]] && return 0; done
  return 1
}

# Imports: `import X`, with attributes or an access level before it.
imports_of() { # file -> imported C modules of interest, one a line
  perl -ne 'print "$1\n" if /^\s*(?:@\w+\s+)*(?:(?:public|package|internal|private|fileprivate)\s+)?import\s+(CGLib|CCurl|CCrypto|CSQLite|CSystem|Glibc)\b/' "$1"
}

used_allowlist=()
while IFS= read -r file; do
  while IFS= read -r module; do
    case $module in
      CGLib)
        [[ $file == Sources/BitsDBus/* ]] && continue
        if in_list "$file" "${CGLIB_ALLOWED[@]+"${CGLIB_ALLOWED[@]}"}"; then used_allowlist+=("$file"); continue; fi
        fail "$file imports CGLib: GLib/GIO calls belong in Sources/BitsDBus" ;;
      CCurl)
        [[ $file == Sources/BitsTransfer/Curl*.swift ]] && continue
        if in_list "$file" "${CCURL_ALLOWED[@]+"${CCURL_ALLOWED[@]}"}"; then used_allowlist+=("$file"); continue; fi
        fail "$file imports CCurl: libcurl calls belong in Sources/BitsTransfer/Curl*.swift" ;;
      CCrypto)
        [[ $file == Sources/BitsTransfer/FileDigest.swift ]] && continue
        if in_list "$file" "${CCRYPTO_ALLOWED[@]+"${CCRYPTO_ALLOWED[@]}"}"; then used_allowlist+=("$file"); continue; fi
        fail "$file imports CCrypto: libcrypto calls belong in Sources/BitsTransfer/FileDigest.swift" ;;
      CSQLite)
        [[ $file == Sources/BitsStore/SQLiteDatabase.swift ]] && continue
        if in_list "$file" "${CSQLITE_ALLOWED[@]+"${CSQLITE_ALLOWED[@]}"}"; then used_allowlist+=("$file"); continue; fi
        fail "$file imports CSQLite: SQLite calls belong in Sources/BitsStore/SQLiteDatabase.swift" ;;
      CSystem|Glibc)
        [[ $file == Sources/BitsSystem/* ]] && continue
        if in_list "$file" "${SYSTEM_IMPORT_ALLOWED[@]+"${SYSTEM_IMPORT_ALLOWED[@]}"}"; then used_allowlist+=("$file"); continue; fi
        fail "$file imports $module: raw Linux calls belong in Sources/BitsSystem" ;;
    esac
  done < <(imports_of "$file")
done < <(swift_files)

# Calls: a listed name not preceded by an identifier character, a dot (except `Glibc.`) or
# `func `, and not followed by a labelled argument (`write(to: ...)`); full-line and trailing
# `// ...` comments are left out.
with_args=$(IFS='|'; echo "${CALLS[*]}")
no_args=$(IFS='|'; echo "${CALLS_NOARGS[*]}")
calls_in() { # file -> "line:name" for each call found
  perl -ne '
    BEGIN { $with = shift @ARGV; $none = shift @ARGV; }
    next if /^\s*\/\//;
    s{\s//\s.*$}{};
    while (/(?:^|(?<=[^\w.])|(?<=\bGlibc\.))(?<!func\s)($with)\((?!\s*\)|(?:\w+\s+)?\w+\s*:(?!:))/g) { print "$.:$1\n"; }
    while (/(?:^|(?<=[^\w.])|(?<=\bGlibc\.))(?<!func\s)($none)\(\s*\)/g) { print "$.:$1\n"; }
  ' "$with_args" "$no_args" "$1"
}

while IFS= read -r file; do
  [[ $file == Sources/BitsSystem/* ]] && continue
  while IFS=: read -r line name; do
    if in_list "$file:$name" "${SYSCALL_ALLOWED[@]+"${SYSCALL_ALLOWED[@]}"}"; then used_allowlist+=("$file:$name"); continue; fi
    fail "$file:$line calls $name(): raw Linux calls belong in Sources/BitsSystem"
  done < <(calls_in "$file")
done < <(swift_files)

# Entries that no longer match anything.
for entry in "${CGLIB_ALLOWED[@]+"${CGLIB_ALLOWED[@]}"}" "${CCURL_ALLOWED[@]+"${CCURL_ALLOWED[@]}"}" \
             "${CCRYPTO_ALLOWED[@]+"${CCRYPTO_ALLOWED[@]}"}" "${CSQLITE_ALLOWED[@]+"${CSQLITE_ALLOWED[@]}"}" \
             "${SYSTEM_IMPORT_ALLOWED[@]+"${SYSTEM_IMPORT_ALLOWED[@]}"}" "${SYSCALL_ALLOWED[@]+"${SYSCALL_ALLOWED[@]}"}"; do
  [[ -z $entry ]] && continue
  in_list "$entry" "${used_allowlist[@]+"${used_allowlist[@]}"}" ||
    fail "allowlist entry '$entry' matches nothing any more: remove it from scripts/check-interop.sh"
done

if ((failures > 0)); then
  echo "check-interop: $failures finding(s); the rules are in docs/architecture.md, section \"C interop\"."
  exit 1
fi
echo "check-interop: C interop is confined (GLib in BitsDBus, curl in Curl*.swift, libcrypto in FileDigest.swift, SQLite in SQLiteDatabase.swift, system calls in BitsSystem)."
