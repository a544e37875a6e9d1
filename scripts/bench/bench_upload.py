"""One upload job through bitsd, timed from CreateJob to the end of Complete. Prints seconds.

Usage: bench_upload.py ADDRESS URL SOURCE"""
import sys
from benchjob import timed_job, JOB

address, url, source = sys.argv[1:4]
total, _ = timed_job(address, "upload", lambda job: job.AddFile(url, source, dbus_interface=JOB))
print(f"{total:.3f}")
