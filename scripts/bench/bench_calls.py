"""Calls per second of CreateJob and of Peer.Ping from one client connection, and of
CreateJob from CLIENTS concurrent clients (each a process with its own connection), same
service, same run.

Usage: bench_calls.py ADDRESS COUNT [ROUNDS [CLIENTS [UIDS]]]. Each figure is the median of
ROUNDS rounds; each client of the concurrent run makes COUNT calls. Run as root (exempt from
the job limits); the created jobs are cancelled after each round (not timed).

With UIDS (comma-separated uids of existing users: the bus looks them up) the concurrent
clients run as those users, one each (the service must allow each COUNT+1 jobs: its [Limits]). Without, they all run as root, and every job
created is signalled to each of them (a job's signals go to every connection of its owner),
so that run measures CLIENTS x CLIENTS signals as much as CreateJob."""
import os
import multiprocessing, statistics, sys, time
import dbus

address, count = sys.argv[1], int(sys.argv[2])
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 1
clients = int(sys.argv[4]) if len(sys.argv) > 4 else 8
uids = [int(u) for u in sys.argv[5].split(",")] if len(sys.argv) > 5 and sys.argv[5] else None

def connect():
    bus = dbus.bus.BusConnection(address)
    manager = bus.get_object("org.example.Bits", "/org/example/Bits")
    return (bus, manager.get_dbus_method("Ping", "org.freedesktop.DBus.Peer"),
            manager.get_dbus_method("CreateJob", "org.example.Bits.Manager"))

def rate(fn):
    start = time.perf_counter()
    results = [fn() for _ in range(count)]
    return count / (time.perf_counter() - start), results

def cancel(bus, jobs):
    for path in jobs:
        bus.get_object("org.example.Bits", path).get_dbus_method("Cancel", "org.example.Bits.Job")()

def concurrent_client(index, ready, go, finished, out):
    if uids is not None:
        os.setgid(uids[index % len(uids)])
        os.setuid(uids[index % len(uids)])
    bus, _, create = connect()
    jobs = [create("warm-up", "download")]  # connected and authorized before the clock starts
    ready.release()
    go.wait()
    start = time.perf_counter()
    jobs += [create("bench", "download") for _ in range(count)]
    out.put((start, time.perf_counter()))
    finished.wait()  # no client cancels while another is still timed
    cancel(bus, jobs)

def concurrent_rate():
    ready, go, finished = multiprocessing.Semaphore(0), multiprocessing.Event(), multiprocessing.Event()
    out = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=concurrent_client, args=(i, ready, go, finished, out)) for i in range(clients)]
    for p in procs: p.start()
    for _ in procs: ready.acquire()
    go.set()
    spans = [out.get() for _ in procs]
    finished.set()
    for p in procs: p.join()
    return clients * count / (max(e for _, e in spans) - min(s for s, _ in spans))

pings, creates, many = [], [], []
for r in range(rounds):
    bus, ping, create = connect()
    p, _ = rate(lambda: ping())
    c, jobs = rate(lambda: create("bench", "download"))
    cancel(bus, jobs)
    # The clients are forked: none may inherit this connection's socket.
    bus.close()
    m = concurrent_rate()
    pings.append(p); creates.append(c); many.append(m)
    print(f"   round {r + 1}: Peer.Ping {p:.0f}/s   CreateJob {c:.0f}/s   CreateJob x{clients} clients {m:.0f}/s", flush=True)
p, c, m = statistics.median(pings), statistics.median(creates), statistics.median(many)
print(f"   Peer.Ping              {p:9.0f} calls/s  (one client, median of {rounds})")
print(f"   CreateJob              {c:9.0f} calls/s  (one client, {count} calls; ratio to Ping {c / p:.2f})")
who = "all root" if uids is None else f"{len(set(uids[:clients]))} users"
print(f"   CreateJob, {clients} clients  {m:9.0f} calls/s  ({clients} x {count} calls, {who})")
print(f"RESULT ping={p:.0f} create={c:.0f} create{clients}={m:.0f}")
