#!/usr/bin/python3
"""Offline tests of dbusfuzz.py (no bus needed): the interface model read from the XML, value
generation and marshalling, wrong signatures, determinism.

    /usr/bin/python3 -m unittest discover -s Tests/Support -p 'test_*.py'
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dbus  # noqa: E402
import dbus.lowlevel  # noqa: E402

import dbusfuzz as F  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
XML_DIR = os.path.join(REPO, "dbus")


def make_worker(seed: int = 7, fifos: bool = True, home: str | None = None):
    home = home or tempfile.mkdtemp(prefix="dbusfuzz-test-")
    opts = F.parse_args(["--address", "unix:path=/nonexistent", "--home", home, "--seed", str(seed),
                         "--interface-dir", XML_DIR, "--http-url", "http://127.0.0.1:8080",
                         "--foreign-job", "/org/example/Bits/jobs/" + "a" * 32,
                         "--foreign-file", "/org/example/Bits/jobs/" + "a" * 32 + "/files/0",
                         "--target", "/nonexistent-root-target"] + (["--fifos"] if fifos else []))
    run = F.Run(opts, F.Interfaces(XML_DIR))
    run.hostile = "http://127.0.0.1:9"
    w = F.Worker(run, 0)
    job = F.OwnJob("/org/example/Bits/jobs/" + "b" * 32, "download")
    job.files.append(job.path + "/files/0")
    w.jobs.append(job)
    return w, home


def marshal(sig: str, args) -> None:
    msg = dbus.lowlevel.MethodCallMessage("org.example.Bits", "/", "org.example.Bits.Job", "X")
    if args:
        msg.append(*args, signature=sig)


class InterfaceModelTests(unittest.TestCase):
    def test_every_member_of_the_xml_is_known(self):
        model = F.Interfaces(XML_DIR)
        for name in ("Manager", "Job", "File"):
            with open(os.path.join(XML_DIR, f"org.example.Bits.{name}.xml"), encoding="utf-8") as f:
                text = re.sub(r"<!--.*?-->", "", f.read(), flags=re.S)
            iface = model.interface(name)
            methods = set(re.findall(r'<method name="(\w+)"', text))
            props = set(re.findall(r'<property name="(\w+)"', text))
            self.assertEqual({m.name for m in model.methods[iface]}, methods, name)
            self.assertEqual({p.name for p in model.properties[iface]}, props, name)
        add = model.method(model.interface("Job"), "AddFileWithRanges")
        self.assertEqual(add.signature, "ssa(tt)")
        self.assertIn("org.example.Bits.Error.NotFound", model.documented_errors)

    def test_split_signature(self):
        self.assertEqual(F.split_signature("ssa(tt)a{sv}v"), ["s", "s", "a(tt)", "a{sv}", "v"])
        self.assertEqual(F.split_signature(""), [])
        self.assertEqual(F.split_signature("aa(s(tt))u"), ["aa(s(tt))", "u"])


class GenerationTests(unittest.TestCase):
    def setUp(self):
        self.w, self.home = make_worker()

    def tearDown(self):
        shutil.rmtree(self.home, ignore_errors=True)

    def test_arguments_of_every_method_marshal(self):
        model = self.w.run.model
        for method in model.all_methods() + model.standard:
            for _ in range(30):
                args = [self.w.gen.value(t, n) for n, t in method.args]
                if F.approx_size(args) > F.MAX_MESSAGE:
                    continue
                marshal(method.signature, args)

    def test_wrong_signatures_differ_and_marshal(self):
        model = self.w.run.model
        for method in model.all_methods() + model.standard:
            for _ in range(20):
                sig = self.w.gen.mutate_signature(method.signature)
                self.assertNotEqual(sig, method.signature)
                args = [self.w.gen.value(t, "text") for t in F.split_signature(sig)]
                if F.approx_size(args) <= F.MAX_MESSAGE:
                    marshal(sig, args)

    def test_property_values_right_and_wrong_types(self):
        for prop in self.w.run.model.all_properties():
            for _ in range(10):
                right = self.w.gen.right_value(prop)
                self.assertEqual(F.dbus_signature_of(right), prop.type, prop.name)
                wrong = self.w.gen.wrong_value(prop)
                self.assertTrue(wrong.variant_level > 1 or F.dbus_signature_of(wrong) != prop.type, prop.name)
                marshal("ssv", [dbus.String("i"), dbus.String(prop.name), right])
                marshal("ssv", [dbus.String("i"), dbus.String(prop.name), wrong])

    def test_same_seed_same_values(self):
        other, _ = make_worker(home=self.home)
        types = ["s", "as", "a(tt)", "a(ss)", "v", "u", "t", "o"]
        a = [F.short(self.w.gen.value(t, "local_path")) for t in types * 20]
        b = [F.short(other.gen.value(t, "local_path")) for t in types * 20]
        self.assertEqual(a, b)

    def test_fifos_only_with_the_flag(self):
        w, home = make_worker(fifos=False)
        try:
            for _ in range(3000):
                self.assertNotIn("/fifos/", w.gen.path(valid=False))
                self.assertNotIn("/fifos/", w.gen.url(valid=False))
        finally:
            shutil.rmtree(home, ignore_errors=True)
        self.assertTrue(any("/fifos/" in self.w.gen.path(valid=False) for _ in range(3000)))

    def test_exclude(self):
        self.w.run.opts.exclude = ["etc"]
        for _ in range(2000):
            self.assertNotIn("etc", self.w.gen.string("local_path"))


if __name__ == "__main__":
    unittest.main()
