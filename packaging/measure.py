#!/usr/bin/python3
"""Start-up time and idle memory of a bitsd binary (issue 21's figures).

measure.py BITSD [--runs N] [--interface-directory DIR]

Starts a private dbus-daemon, then N times: a fresh state directory (empty queue), bitsd on
that bus; the start-up time is from just before exec to the moment org.example.Bits has an owner
(NameHasOwner polled every millisecond); the idle RSS is VmRSS of /proc/PID/status 2 s after
that. Prints the median and the range, plus the binary's size (and stripped size).
"""
import os, shutil, statistics, subprocess, sys, tempfile, time, argparse
import dbus

ap = argparse.ArgumentParser()
ap.add_argument("bitsd")
ap.add_argument("--runs", type=int, default=5)
ap.add_argument("--interface-directory", default=os.path.join(os.path.dirname(__file__), "..", "dbus"))
a = ap.parse_args()

work = tempfile.mkdtemp(prefix="bitsd-measure.")
bus_proc = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1", "--nopidfile"],
                            stdout=subprocess.PIPE, text=True)
address = bus_proc.stdout.readline().strip()
bus = dbus.bus.BusConnection(address)
conf = os.path.join(work, "bitsd.conf")
open(conf, "w").close()
starts, rss = [], []
try:
    for i in range(a.runs):
        state = os.path.join(work, f"state{i}")
        t0 = time.monotonic()
        p = subprocess.Popen([a.bitsd, "--address", address, "--state-directory", state, "--config", conf,
                              "--interface-directory", a.interface_directory],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not bus.name_has_owner("org.example.Bits"):
            if p.poll() is not None:
                sys.exit(f"bitsd exited with {p.returncode}")
            if time.monotonic() - t0 > 30:
                sys.exit("bitsd did not take its name in 30 s")
            time.sleep(0.001)
        starts.append((time.monotonic() - t0) * 1000)
        time.sleep(2)
        with open(f"/proc/{p.pid}/status") as f:
            kb = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        rss.append(kb / 1024)
        p.terminate()
        p.wait(10)
        while bus.name_has_owner("org.example.Bits"):
            time.sleep(0.01)
finally:
    bus_proc.terminate()
    shutil.rmtree(work, ignore_errors=True)

size = os.path.getsize(a.bitsd)
stripped = os.path.join(tempfile.gettempdir(), f"bitsd-measure-stripped.{os.getpid()}")
subprocess.run(["strip", "-o", stripped, a.bitsd], check=True)
ssize = os.path.getsize(stripped)
os.unlink(stripped)
print(f"binary {size / 1e6:.1f} MB, stripped {ssize / 1e6:.1f} MB")
print(f"start-up to the bus name: median {statistics.median(starts):.0f} ms "
      f"(min {min(starts):.0f}, max {max(starts):.0f}, {a.runs} runs)")
print(f"idle RSS: median {statistics.median(rss):.1f} MiB (min {min(rss):.1f}, max {max(rss):.1f})")
