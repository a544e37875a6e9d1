#!/usr/bin/env python3
"""A stand-in for UPower on a test bus, for bitsd's TransferPolicy "not-on-battery".

    upower_standin.py ADDRESS serve
        Owns org.freedesktop.UPower, serves /org/freedesktop/UPower with the read-only
        property OnBattery (b, initially false) as UPower does, prints "ready" once it owns
        the name, then reads commands from stdin, one per line, answering "ok" after each:
          true | false   set OnBattery and emit PropertiesChanged with the new value
          invalidate     emit PropertiesChanged naming OnBattery as invalidated (no value)
          quit           release the name and exit
    upower_standin.py ADDRESS spoof true|false
        Does not own the name: emits a PropertiesChanged for /org/freedesktop/UPower claiming
        OnBattery, as any local user can, then exits (bitsd must ignore it).
"""
import sys

from gi.repository import Gio, GLib

NAME = "org.freedesktop.UPower"
PATH = "/org/freedesktop/UPower"
XML = """<node><interface name="org.freedesktop.UPower">
  <property name="OnBattery" type="b" access="read"/>
</interface></node>"""


def connect(address):
    flags = Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION
    return Gio.DBusConnection.new_for_address_sync(address, flags, None, None)


def changed(connection, values, invalidated):
    body = GLib.Variant("(sa{sv}as)", (NAME, values, invalidated))
    connection.emit_signal(None, PATH, "org.freedesktop.DBus.Properties", "PropertiesChanged", body)
    connection.flush_sync(None)


def spoof(connection, value):
    changed(connection, {"OnBattery": GLib.Variant("b", value)}, [])


def serve(connection):
    state = {"on_battery": False}
    loop = GLib.MainLoop()

    def get_property(_conn, _sender, _path, _iface, name):
        return GLib.Variant("b", state["on_battery"]) if name == "OnBattery" else None

    info = Gio.DBusNodeInfo.new_for_xml(XML).interfaces[0]
    connection.register_object(PATH, info, None, get_property, None)
    reply = connection.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                 "RequestName", GLib.Variant("(su)", (NAME, 4)), GLib.VariantType("(u)"),
                                 Gio.DBusCallFlags.NONE, 10000, None)
    if reply.unpack()[0] != 1:
        print("could not own %s: %d" % (NAME, reply.unpack()[0]), flush=True)
        sys.exit(1)
    print("ready", flush=True)

    def on_line(channel, _condition):
        line = channel.readline()
        command = line.strip()
        if not line or command == "quit":
            loop.quit()
            return False
        if command in ("true", "false"):
            state["on_battery"] = command == "true"
            changed(connection, {"OnBattery": GLib.Variant("b", state["on_battery"])}, [])
        elif command == "invalidate":
            changed(connection, {}, ["OnBattery"])
        print("ok", flush=True)
        return True

    channel = GLib.IOChannel.unix_new(sys.stdin.fileno())
    GLib.io_add_watch(channel, GLib.PRIORITY_DEFAULT, GLib.IOCondition.IN | GLib.IOCondition.HUP, on_line)
    loop.run()
    connection.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                         "ReleaseName", GLib.Variant("(s)", (NAME,)), GLib.VariantType("(u)"),
                         Gio.DBusCallFlags.NONE, 10000, None)
    connection.flush_sync(None)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    connection = connect(sys.argv[1])
    if sys.argv[2] == "serve":
        serve(connection)
    elif sys.argv[2] == "spoof" and len(sys.argv) == 4:
        spoof(connection, sys.argv[3] == "true")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
