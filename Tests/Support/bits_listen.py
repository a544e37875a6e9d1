#!/usr/bin/python3
"""D-Bus client helper for the bitsd integration tests (python3-dbus + python3-gi).

Run with /usr/bin/python3, usually as an unprivileged test user.  Every output
line is one JSON object, flushed at once.

Subcommands
    listen --address ADDR [--call-service | --no-call-service] [--object-manager] [--eavesdrop]
           [--service org.example.Bits]
        Connects to ADDR, adds the match rule
        ``type='signal',sender='<service>'`` (with --eavesdrop also
        ``eavesdrop='true'`` rules for every message type, which the system
        bus policy must refuse to honour for other users' unicast messages),
        then (unless --no-call-service) calls ``Manager.ListJobs(false)`` so
        that the connection counts as one that "has called the service"
        (with --object-manager then also ``ObjectManager.GetManagedObjects()``,
        which makes it an ObjectManager client that hears file objects' signals).
        Prints ``{"ready": true, "unique_name": ..., "service_call": ...}``
        and then one line per received message until killed:
        ``{"type","sender","destination","path","interface","member","args"}``.

    call --address ADDR --dest NAME --path P --interface I --method M
         [--signature SIG] [--args JSON-ARRAY] [--timeout SECONDS]
        One call on a fresh connection; prints ``{"reply": [...]}`` or
        ``{"error": "<D-Bus error name>", "message": "..."}``.

    serve --address ADDR
        A persistent client: reads one JSON request per stdin line
        ``{"id", "dest", "path", "interface", "method", "signature", "args",
        "timeout"}`` and answers each with one line
        ``{"id", "reply": [...]}`` or ``{"id", "error", "message"}``.
        Prints ``{"ready": true, "unique_name": ...}`` first.  Exits at EOF.

Argument encoding (JSON -> D-Bus, driven by the signature): numbers, strings,
booleans and arrays map directly; structs are JSON arrays; dicts are JSON
objects; a variant ``v`` is ``{"type": "<signature>", "value": <json>}``.
Replies are decoded back to plain JSON (structs -> arrays, variants -> their
value, byte arrays -> arrays of ints).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

import dbus
import dbus.lowlevel
from dbus.mainloop.glib import DBusGMainLoop

SERVICE = "org.example.Bits"
MANAGER_PATH = "/org/example/Bits"
MANAGER_IFACE = "org.example.Bits.Manager"


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------
# D-Bus values -> JSON
# ---------------------------------------------------------------------------

def to_json(v):
    if isinstance(v, dbus.Boolean):
        return bool(v)
    if isinstance(v, (dbus.ObjectPath, dbus.Signature, dbus.String, str)):
        return str(v)
    if isinstance(v, dbus.Byte):
        return int(v)
    if isinstance(v, (bytes, bytearray, dbus.ByteArray)):
        return list(bytes(v))
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return float(v)
    if isinstance(v, dict):
        return {str(to_json(k)): to_json(val) for k, val in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_json(x) for x in v]
    if v is None:
        return None
    return str(v)


# ---------------------------------------------------------------------------
# JSON -> D-Bus values, driven by a signature
# ---------------------------------------------------------------------------

def split_signature(sig: str) -> list[str]:
    """Split a signature into complete types."""
    out = []
    i = 0
    while i < len(sig):
        j = complete_type_end(sig, i)
        out.append(sig[i:j])
        i = j
    return out


def complete_type_end(sig: str, i: int) -> int:
    c = sig[i]
    if c == "a":
        return complete_type_end(sig, i + 1)
    if c in "({":
        close = ")" if c == "(" else "}"
        depth = 0
        j = i
        while j < len(sig):
            if sig[j] in "({":
                depth += 1
            elif sig[j] in ")}":
                depth -= 1
                if depth == 0:
                    if sig[j] != close:
                        raise ValueError("bad signature " + sig)
                    return j + 1
            j += 1
        raise ValueError("unbalanced signature " + sig)
    return i + 1


BASIC = {
    "y": dbus.Byte, "b": dbus.Boolean, "n": dbus.Int16, "q": dbus.UInt16,
    "i": dbus.Int32, "u": dbus.UInt32, "x": dbus.Int64, "t": dbus.UInt64,
    "d": dbus.Double, "s": dbus.String, "o": dbus.ObjectPath, "g": dbus.Signature,
    "h": dbus.types.UnixFd,
}


def from_json(t: str, v, variant_level: int = 0):
    kw = {"variant_level": variant_level} if variant_level else {}
    c = t[0]
    if c in BASIC:
        ctor = BASIC[c]
        if c == "h":
            return ctor(int(v))
        if c in "ynqiuxt":
            return ctor(int(v), **kw)
        if c == "b":
            return ctor(bool(v), **kw)
        if c == "d":
            return ctor(float(v), **kw)
        return ctor(str(v), **kw)
    if c == "v":
        if not isinstance(v, dict) or "type" not in v:
            raise ValueError('variant arguments must be {"type": SIG, "value": ...}')
        return from_json(v["type"], v["value"], variant_level=variant_level + 1)
    if c == "a":
        inner = t[1:]
        if inner.startswith("{"):
            kt, vt = split_signature(inner[1:-1])
            return dbus.Dictionary({from_json(kt, k if kt[0] not in "ynqiuxt" else int(k)): from_json(vt, x)
                                    for k, x in v.items()}, signature=kt + vt, **kw)
        return dbus.Array([from_json(inner, x) for x in v], signature=inner, **kw)
    if c == "(":
        members = split_signature(t[1:-1])
        if len(members) != len(v):
            raise ValueError("struct %s needs %d members" % (t, len(members)))
        return dbus.Struct([from_json(mt, x) for mt, x in zip(members, v)], signature=t[1:-1], **kw)
    raise ValueError("unsupported type " + t)


def build_args(signature: str, args: list) -> list:
    types = split_signature(signature or "")
    if len(types) != len(args):
        raise ValueError("signature %r wants %d arguments, got %d" % (signature, len(types), len(args)))
    return [from_json(t, a) for t, a in zip(types, args)]


# ---------------------------------------------------------------------------
# Calls
# ---------------------------------------------------------------------------

def do_call(conn, dest, path, iface, method, signature, args, timeout, interactive=False) -> dict:
    try:
        built = build_args(signature, args)
    except (ValueError, TypeError) as e:
        return {"error": "harness.BadArguments", "message": str(e)}
    msg = dbus.lowlevel.MethodCallMessage(dest, path, iface, method)
    if interactive:
        msg.set_allow_interactive_authorization(True)
    if built:
        msg.append(*built, signature=signature)
    try:
        reply = conn.send_message_with_reply_and_block(msg, timeout)
    except dbus.exceptions.DBusException as e:
        return {"error": e.get_dbus_name() or "", "message": e.get_dbus_message() or str(e)}
    return {"reply": [to_json(x) for x in reply.get_args_list()]}


def connect(address: str, mainloop=None):
    if mainloop is not None:
        return dbus.bus.BusConnection(address, mainloop=mainloop)
    return dbus.bus.BusConnection(address)


def cmd_call(a) -> int:
    conn = connect(a.address)
    res = do_call(conn, a.dest, a.path, a.interface, a.method, a.signature,
                  json.loads(a.args), a.timeout)
    emit(res)
    return 0


def cmd_serve(a) -> int:
    conn = connect(a.address)
    emit({"ready": True, "unique_name": conn.get_unique_name()})
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
        except ValueError as e:
            emit({"id": None, "error": "harness.BadRequest", "message": str(e)})
            continue
        res = do_call(conn, req.get("dest", SERVICE), req["path"], req.get("interface") or None,
                      req["method"], req.get("signature", ""), req.get("args", []),
                      float(req.get("timeout", 30)), bool(req.get("interactive", False)))
        res["id"] = req.get("id")
        emit(res)
    return 0


# ---------------------------------------------------------------------------
# Listener
# ---------------------------------------------------------------------------

MESSAGE_TYPES = {
    dbus.lowlevel.MESSAGE_TYPE_SIGNAL: "signal",
    dbus.lowlevel.MESSAGE_TYPE_METHOD_CALL: "method_call",
    dbus.lowlevel.MESSAGE_TYPE_METHOD_RETURN: "method_return",
    dbus.lowlevel.MESSAGE_TYPE_ERROR: "error",
}


def cmd_listen(a) -> int:
    from gi.repository import GLib

    loop = GLib.MainLoop()
    conn = connect(a.address, mainloop=DBusGMainLoop())
    me = conn.get_unique_name()

    def on_message(_conn, msg):
        kind = MESSAGE_TYPES.get(msg.get_type(), str(msg.get_type()))
        sender = msg.get_sender()
        if sender == "org.freedesktop.DBus":
            return dbus.lowlevel.HANDLER_RESULT_NOT_YET_HANDLED
        try:
            args = [to_json(x) for x in msg.get_args_list()]
        except Exception as e:  # noqa: BLE001 - report, never die
            args = ["<undecodable: %s>" % e]
        emit({
            "type": kind,
            "sender": sender,
            "destination": msg.get_destination(),
            "path": msg.get_path(),
            "interface": msg.get_interface(),
            "member": msg.get_member(),
            "args": args,
            "eavesdropped": bool(msg.get_destination()) and msg.get_destination() != me,
        })
        return dbus.lowlevel.HANDLER_RESULT_NOT_YET_HANDLED

    conn.add_message_filter(on_message)
    conn.add_match_string("type='signal',sender='%s'" % a.service)
    eavesdrop_rules = []
    if a.eavesdrop:
        for kind in ("signal", "method_call", "method_return", "error"):
            rule = "type='%s',eavesdrop='true'" % kind
            try:
                conn.add_match_string(rule)
                eavesdrop_rules.append(rule)
            except dbus.exceptions.DBusException as e:
                emit({"note": "eavesdrop rule refused", "rule": rule, "error": e.get_dbus_name()})

    service_call = None
    if a.call_service:
        service_call = do_call(conn, a.service, MANAGER_PATH, MANAGER_IFACE, "ListJobs", "b", [False], 30.0)
        if a.object_manager:
            service_call = do_call(conn, a.service, MANAGER_PATH, "org.freedesktop.DBus.ObjectManager",
                                   "GetManagedObjects", "", [], 30.0)

    emit({"ready": True, "unique_name": me, "service_call": service_call,
          "eavesdrop_rules": eavesdrop_rules})

    def stop(*_):
        loop.quit()
        return False

    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGTERM, stop)
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGINT, stop)
    loop.run()
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    pl = sub.add_parser("listen")
    pl.add_argument("--address", required=True)
    pl.add_argument("--service", default=SERVICE)
    pl.add_argument("--call-service", dest="call_service", action="store_true", default=True)
    pl.add_argument("--no-call-service", dest="call_service", action="store_false")
    pl.add_argument("--object-manager", dest="object_manager", action="store_true", default=False)
    pl.add_argument("--eavesdrop", action="store_true")

    pc = sub.add_parser("call")
    pc.add_argument("--address", required=True)
    pc.add_argument("--dest", default=SERVICE)
    pc.add_argument("--path", required=True)
    pc.add_argument("--interface", default=None)
    pc.add_argument("--method", required=True)
    pc.add_argument("--signature", default="")
    pc.add_argument("--args", default="[]")
    pc.add_argument("--timeout", type=float, default=30.0)

    ps = sub.add_parser("serve")
    ps.add_argument("--address", required=True)

    a = p.parse_args(argv)
    try:
        return {"listen": cmd_listen, "call": cmd_call, "serve": cmd_serve}[a.cmd](a)
    except dbus.exceptions.DBusException as e:
        emit({"fatal": True, "error": e.get_dbus_name() or "", "message": e.get_dbus_message() or str(e)})
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
