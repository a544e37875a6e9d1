"""One upload job through bitsd, timed from CreateJob to the end of Complete, waiting for
the Transferred signal (no polling). Prints seconds.

Usage: bench_upload.py ADDRESS URL SOURCE"""
import sys, time
import dbus
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

address, url, source = sys.argv[1:4]
DBusGMainLoop(set_as_default=True)
bus = dbus.bus.BusConnection(address)
loop = GLib.MainLoop()
outcome = {}

def on_signal(*args, member=None, path=None):
    if path == outcome.get("job") and member in ("Transferred", "Error"):
        outcome["end"] = member
        loop.quit()

bus.add_signal_receiver(on_signal, dbus_interface="org.example.Bits.Job", bus_name="org.example.Bits",
                        member_keyword="member", path_keyword="path")
start = time.perf_counter()
manager = bus.get_object("org.example.Bits", "/org/example/Bits")
path = manager.CreateJob("bench upload", "upload", dbus_interface="org.example.Bits.Manager")
outcome["job"] = path
job = bus.get_object("org.example.Bits", path)
job.AddFile(url, source, dbus_interface="org.example.Bits.Job")
job.Set("org.example.Bits.Job", "Priority", "foreground", dbus_interface="org.freedesktop.DBus.Properties")
job.Resume(dbus_interface="org.example.Bits.Job")
loop.run()
if outcome["end"] != "Transferred":
    sys.exit("job failed: " + str(job.Get("org.example.Bits.Job", "ErrorDescription", dbus_interface="org.freedesktop.DBus.Properties")))
job.Complete(dbus_interface="org.example.Bits.Job")
print(f"{time.perf_counter() - start:.3f}")
