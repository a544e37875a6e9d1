"""One download job through bitsd, timed from CreateJob to the end of Complete. Prints seconds.

Usage: bench_download.py ADDRESS URL DEST [COUNT]. With COUNT, URL and DEST contain `{}`,
replaced by 1..COUNT, and the job gets all COUNT files with one AddFiles."""
import sys
from benchjob import timed_job, JOB

address, url, dest = sys.argv[1:4]
count = int(sys.argv[4]) if len(sys.argv) > 4 else 0


def add(job):
    if count:
        job.AddFiles([(url.replace("{}", str(i)), dest.replace("{}", str(i))) for i in range(1, count + 1)],
                     dbus_interface=JOB)
    else:
        job.AddFile(url, dest, dbus_interface=JOB)


total, transferred = timed_job(address, "download", add)
print(f"{total:.3f}")
print(f"transferred after {transferred:.3f} s, complete {total - transferred:.3f} s", file=sys.stderr)
