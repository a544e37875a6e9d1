#!/usr/bin/env python3
"""Prints how much of a file's page cache is dirty or under writeback, as JSON:
{"cached": pages, "dirty": pages, "writeback": pages}, via cachestat(2) (Linux 6.5+).
or {"unsupported": reason} when the kernel lacks cachestat. Usage: cachestat.py PATH"""
import ctypes, json, os, sys

SYS_CACHESTAT = 451  # the same number on x86_64 and the generic table (arm64)


class Range(ctypes.Structure):
    _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]


class Stat(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in
                ("nr_cache", "nr_dirty", "nr_writeback", "nr_evicted", "nr_recently_evicted")]


def main() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(sys.argv[1], os.O_RDONLY)
    try:
        stat = Stat()
        if libc.syscall(SYS_CACHESTAT, fd, ctypes.byref(Range(0, 0)), ctypes.byref(stat), 0) != 0:
            err = ctypes.get_errno()
            if err == 38:  # ENOSYS
                print(json.dumps({"unsupported": "this kernel has no cachestat(2) (Linux 6.5+)"}))
                return 0
            print(f"cachestat: {os.strerror(err)}", file=sys.stderr)
            return 1
        print(json.dumps({"cached": stat.nr_cache, "dirty": stat.nr_dirty, "writeback": stat.nr_writeback}))
        return 0
    finally:
        os.close(fd)


if __name__ == "__main__":
    sys.exit(main())
