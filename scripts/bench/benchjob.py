"""Shared by the benchmark clients: one job through bitsd, timed from CreateJob to the end of
Complete, waiting for the Transferred signal (no polling)."""
import sys, time
import dbus
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

PROPS = "org.freedesktop.DBus.Properties"
JOB = "org.example.Bits.Job"


def timed_job(address, job_type, add_files):
    """Creates a foreground job of `job_type`, calls `add_files(job)`, resumes it, waits for
    Transferred and completes it. Returns (seconds, seconds until Transferred)."""
    DBusGMainLoop(set_as_default=True)
    bus = dbus.bus.BusConnection(address)
    loop = GLib.MainLoop()
    outcome = {}

    def on_signal(*args, member=None, path=None):
        if path == outcome.get("job") and member in ("Transferred", "Error"):
            outcome["end"] = member
            loop.quit()

    bus.add_signal_receiver(on_signal, dbus_interface=JOB, bus_name="org.example.Bits",
                            member_keyword="member", path_keyword="path")
    start = time.perf_counter()
    manager = bus.get_object("org.example.Bits", "/org/example/Bits")
    path = manager.CreateJob("bench", job_type, dbus_interface="org.example.Bits.Manager")
    outcome["job"] = path
    job = bus.get_object("org.example.Bits", path)
    add_files(job)
    job.Set(JOB, "Priority", "foreground", dbus_interface=PROPS)
    job.Resume(dbus_interface=JOB)
    loop.run()
    transferred = time.perf_counter()
    if outcome["end"] != "Transferred":
        sys.exit("job failed: " + str(job.Get(JOB, "ErrorDescription", dbus_interface=PROPS)))
    job.Complete(dbus_interface=JOB)
    return time.perf_counter() - start, transferred - start
