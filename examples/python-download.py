#!/usr/bin/python3
"""Downloads URL to DEST through bitsd, driven by the job's D-Bus signals.

Usage: python-download.py URL DEST   (system bus; Gio honours DBUS_SYSTEM_BUS_ADDRESS)
"""
import os
import sys

from gi.repository import Gio, GLib

UNKNOWN = 2**64 - 1  # BytesTotal while the size is not known yet


def proxy(bus, path, interface):
    return Gio.DBusProxy.new_sync(bus, Gio.DBusProxyFlags.NONE, None, "org.example.Bits", path, interface)


def download(url, dest):
    bus = Gio.bus_get_sync(Gio.BusType.SYSTEM)
    manager = proxy(bus, "/org/example/Bits", "org.example.Bits.Manager")
    # bitsd sends a job's signals only to connections of its owner that have called the
    # service: this call makes our connection one of them.
    path = manager.CreateJob("(ss)", "python-download", "download")
    # The proxy subscribes to the job's signals, then reads all its properties, so no change
    # slips in between; PropertiesChanged keeps its cache (get_cached_property) current.
    job = proxy(bus, path, "org.example.Bits.Job")
    loop = GLib.MainLoop()
    failure = None

    def on_properties_changed(job, changed, invalidated):
        if {"State", "BytesTransferred", "BytesTotal"} & changed.unpack().keys():
            state, done, total = (job.get_cached_property(name).unpack()
                                  for name in ("State", "BytesTransferred", "BytesTotal"))
            print(f"{state}: {done} of {'?' if total == UNKNOWN else total} bytes", flush=True)

    def on_signal(job, sender, name, args):
        nonlocal failure
        if name == "Error":
            context, code, description = args.unpack()
            failure = f"{code}: {description}"
        if name in ("Transferred", "Error"):
            loop.quit()

    def on_owner_changed(job, _):
        nonlocal failure
        if job.get_name_owner() is None:  # no more signals would come
            failure = f"bitsd stopped; {path} stays in its queue"
            loop.quit()

    job.connect("g-properties-changed", on_properties_changed)
    job.connect("g-signal", on_signal)
    job.connect("notify::g-name-owner", on_owner_changed)
    try:
        job.AddFile("(ss)", url, dest)
        job.Resume()
        loop.run()  # until Transferred or Error
        if failure:
            raise SystemExit(f"failed: {failure}")
    except BaseException:  # the job's error, a D-Bus error or Ctrl-C: drop the job
        if job.get_name_owner():
            job.Cancel()
        raise
    job.Complete()  # DEST appears now, under its final name
    print(f"saved {dest}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} URL DEST")
    try:
        download(sys.argv[1], os.path.abspath(sys.argv[2]))
    except GLib.Error as e:
        sys.exit(f"failed: {e.message}")
    except KeyboardInterrupt:
        sys.exit("interrupted: the job was cancelled")
