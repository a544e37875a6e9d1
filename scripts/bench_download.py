"""One download job through bitsd, timed from CreateJob to the end of Complete, waiting for
the Transferred signal (no polling). Prints seconds.

Usage: bench_download.py ADDRESS URL DEST [COUNT]. With COUNT, URL and DEST contain `{}`,
replaced by 1..COUNT, and the job gets all COUNT files with one AddFiles."""
import sys, time
import dbus
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

address, url, dest = sys.argv[1:4]
count = int(sys.argv[4]) if len(sys.argv) > 4 else 0
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
path = manager.CreateJob("bench", "download", dbus_interface="org.example.Bits.Manager")
outcome["job"] = path
job = bus.get_object("org.example.Bits", path)
if count:
    job.AddFiles([(url.replace("{}", str(i)), dest.replace("{}", str(i))) for i in range(1, count + 1)],
                 dbus_interface="org.example.Bits.Job")
else:
    job.AddFile(url, dest, dbus_interface="org.example.Bits.Job")
job.Set("org.example.Bits.Job", "Priority", "foreground", dbus_interface="org.freedesktop.DBus.Properties")
t_resume = time.perf_counter()
job.Resume(dbus_interface="org.example.Bits.Job")
loop.run()
t_done = time.perf_counter()
if outcome["end"] != "Transferred":
    sys.exit("job failed")
job.Complete(dbus_interface="org.example.Bits.Job")
end = time.perf_counter()
print(f"{end - start:.3f}")
print(f"setup {t_resume-start:.3f} transfer {t_done-t_resume:.3f} complete {end-t_done:.3f}", file=sys.stderr)
