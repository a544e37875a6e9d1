"""One 1-file download job through bitsd, timed from CreateJob to the end of Complete, with
or without an ExpectedHash. Prints seconds.

Usage: bench_hash.py ADDRESS URL DEST [EXPECTED_HASH]. With EXPECTED_HASH (`sha256:<hex>`)
the file is added with AddFilesWithHashes, else with AddFile (the same job otherwise)."""
import sys
from benchjob import timed_job, JOB

address, url, dest = sys.argv[1:4]
expected = sys.argv[4] if len(sys.argv) > 4 else ""


def add(job):
    if expected:
        job.AddFilesWithHashes([(url, dest, expected)], dbus_interface=JOB)
    else:
        job.AddFile(url, dest, dbus_interface=JOB)


total, transferred = timed_job(address, "download", add)
print(f"{total:.3f}")
