"""Calls per second of CreateJob and of Peer.Ping from one client connection, same service.

Usage: bench_calls.py ADDRESS COUNT. Run as root (exempt from the job limits); the created
jobs are cancelled afterwards (not timed)."""
import sys, time
import dbus

address, count = sys.argv[1], int(sys.argv[2])
bus = dbus.bus.BusConnection(address)
manager = bus.get_object("org.example.Bits", "/org/example/Bits")
ping = manager.get_dbus_method("Ping", "org.freedesktop.DBus.Peer")
create = manager.get_dbus_method("CreateJob", "org.example.Bits.Manager")

def rate(fn):
    start = time.perf_counter()
    results = [fn() for _ in range(count)]
    return count / (time.perf_counter() - start), results

ping_rate, _ = rate(lambda: ping())
create_rate, jobs = rate(lambda: create("bench", "download"))
ping_rate2, _ = rate(lambda: ping())
print(f"   Peer.Ping   {ping_rate:9.0f} calls/s  (again after: {ping_rate2:.0f})")
print(f"   CreateJob   {create_rate:9.0f} calls/s  ({count} calls; ratio to Ping {create_rate / ping_rate:.2f})")
for path in jobs:
    bus.get_object("org.example.Bits", path).get_dbus_method("Cancel", "org.example.Bits.Job")()
