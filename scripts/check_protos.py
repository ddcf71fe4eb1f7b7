#!/usr/bin/env python3
"""Checks the hand-written Protos/ subset against the official Envoy descriptors.

Builds a descriptor set from Protos/ with protoc, then, for every file, message, field,
enum value and service method in it, compares the definition with the official one from
the `xds-protos` Python package (and `googleapis-common-protos` for google.rpc,
`grpcio-health-checking` for grpc.health when installed). Compared: file path and package,
message and enum full names, field name, number, type, label, type_name, oneof membership
and proto3 `optional`, map-entry-ness, enum value names and numbers (ours must list every
upstream value), and method names, types and streaming flags.

Exit status: 0 when everything matches, 1 on any mismatch, 2 when the check cannot run.
Run with the project venv: .venv/bin/python scripts/check_protos.py
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import subprocess
import sys
import tempfile

try:
    from google.protobuf import descriptor_pb2
except ImportError:  # pragma: no cover - environment problem, not a mismatch
    print("check_protos: the 'protobuf' Python package is missing (use the project .venv)", file=sys.stderr)
    sys.exit(2)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Files whose upstream module lives outside xds-protos, and the package that provides it.
SPECIAL_MODULES = {
    "grpc/health/v1/health.proto": ("grpc_health.v1.health_pb2", "grpcio-health-checking"),
    "google/rpc/status.proto": ("google.rpc.status_pb2", "googleapis-common-protos"),
}

FDP = descriptor_pb2.FieldDescriptorProto
TYPE_NAMES = {v: k[len("TYPE_"):].lower() for k, v in FDP.Type.items()}
LABEL_NAMES = {FDP.LABEL_OPTIONAL: "singular", FDP.LABEL_REQUIRED: "required", FDP.LABEL_REPEATED: "repeated"}


def build_descriptor_set(protoc: str, protos_dir: str, include: str) -> descriptor_pb2.FileDescriptorSet:
    files = sorted(
        os.path.relpath(os.path.join(d, f), protos_dir)
        for d, _, names in os.walk(protos_dir)
        for f in names
        if f.endswith(".proto")
    )
    if not files:
        raise SystemExit(f"check_protos: no .proto files under {protos_dir}")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "subset.fds")
        cmd = [protoc, "-I", protos_dir, "-I", include, "--include_imports", f"--descriptor_set_out={out}", *files]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            raise SystemExit(2)
        fds = descriptor_pb2.FileDescriptorSet()
        with open(out, "rb") as fh:
            fds.ParseFromString(fh.read())
    return fds


def upstream_file(name: str):
    """Returns (FileDescriptorProto, None) or (None, reason-to-skip)."""
    module, dist = SPECIAL_MODULES.get(name, (name[: -len(".proto")].replace("/", ".") + "_pb2", "xds-protos"))
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        return None, f"cannot import {module} ({dist} not installed?): {exc}"
    # The module's own descriptor: grpcio-health-checking registers its file under another
    # path (grpc_health/v1/health.proto), with the same package and messages.
    fd = mod.DESCRIPTOR
    proto = descriptor_pb2.FileDescriptorProto()
    fd.CopyToProto(proto)
    return proto, None


class Checker:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.counts = {"files": 0, "messages": 0, "fields": 0, "enum values": 0, "methods": 0}

    def error(self, msg: str) -> None:
        self.errors.append(msg)

    @staticmethod
    def oneof_of(msg: descriptor_pb2.DescriptorProto, field: descriptor_pb2.FieldDescriptorProto):
        if field.HasField("oneof_index") and not field.proto3_optional:
            return msg.oneof_decl[field.oneof_index].name
        return None

    @staticmethod
    def describe(msg, f) -> str:
        oneof = Checker.oneof_of(msg, f)
        parts = [f"#{f.number}", TYPE_NAMES[f.type], LABEL_NAMES[f.label]]
        if f.type_name:
            parts.append(f.type_name)
        if oneof:
            parts.append(f"oneof {oneof}")
        if f.proto3_optional:
            parts.append("proto3-optional")
        return " ".join(parts)

    def check_enum(self, full: str, ours, theirs) -> None:
        if theirs is None:
            self.error(f"{full}: enum not found upstream")
            return
        up = {v.name: v.number for v in theirs.value}
        for v in ours.value:
            self.counts["enum values"] += 1
            if v.name not in up:
                self.error(f"{full}.{v.name}: enum value not found upstream")
            elif up[v.name] != v.number:
                self.error(f"{full}.{v.name}: ours = {v.number}, upstream = {up[v.name]}")
        missing = sorted(set(up) - {v.name for v in ours.value})
        if missing:
            self.error(f"{full}: missing upstream enum values {', '.join(missing)}")

    def check_message(self, full: str, ours, theirs) -> None:
        self.counts["messages"] += 1
        if theirs is None:
            self.error(f"{full}: message not found upstream (in the same file)")
            return
        if ours.options.map_entry != theirs.options.map_entry:
            self.error(f"{full}: map_entry ours = {ours.options.map_entry}, upstream = {theirs.options.map_entry}")
        up_fields = {f.name: f for f in theirs.field}
        for f in ours.field:
            self.counts["fields"] += 1
            u = up_fields.get(f.name)
            if u is None:
                self.error(f"{full}.{f.name}: field not found upstream")
                continue
            same = (
                f.number == u.number
                and f.type == u.type
                and f.label == u.label
                and f.type_name == u.type_name
                and self.oneof_of(ours, f) == self.oneof_of(theirs, u)
                and f.proto3_optional == u.proto3_optional
            )
            if not same:
                self.error(f"{full}.{f.name}: ours {self.describe(ours, f)}, upstream {self.describe(theirs, u)}")
        up_nested = {m.name: m for m in theirs.nested_type}
        for m in ours.nested_type:
            self.check_message(f"{full}.{m.name}", m, up_nested.get(m.name))
        up_enums = {e.name: e for e in theirs.enum_type}
        for e in ours.enum_type:
            self.check_enum(f"{full}.{e.name}", e, up_enums.get(e.name))

    def check_service(self, full: str, ours, theirs) -> None:
        if theirs is None:
            self.error(f"{full}: service not found upstream")
            return
        up = {m.name: m for m in theirs.method}
        for m in ours.method:
            self.counts["methods"] += 1
            u = up.get(m.name)
            if u is None:
                self.error(f"{full}/{m.name}: method not found upstream")
                continue
            ours_sig = (m.input_type, m.output_type, m.client_streaming, m.server_streaming)
            up_sig = (u.input_type, u.output_type, u.client_streaming, u.server_streaming)
            if ours_sig != up_sig:
                self.error(f"{full}/{m.name}: ours {ours_sig}, upstream {up_sig}")

    def check_file(self, ours: descriptor_pb2.FileDescriptorProto, theirs: descriptor_pb2.FileDescriptorProto) -> None:
        self.counts["files"] += 1
        if ours.syntax != theirs.syntax:
            self.error(f"{ours.name}: syntax ours = {ours.syntax!r}, upstream = {theirs.syntax!r}")
        if ours.package != theirs.package:
            self.error(f"{ours.name}: package ours = {ours.package}, upstream = {theirs.package}")
        pkg = ours.package
        up_msgs = {m.name: m for m in theirs.message_type}
        for m in ours.message_type:
            self.check_message(f"{pkg}.{m.name}", m, up_msgs.get(m.name))
        up_enums = {e.name: e for e in theirs.enum_type}
        for e in ours.enum_type:
            self.check_enum(f"{pkg}.{e.name}", e, up_enums.get(e.name))
        up_svcs = {s.name: s for s in theirs.service}
        for s in ours.service:
            self.check_service(f"{pkg}.{s.name}", s, up_svcs.get(s.name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protos", default=os.path.join(ROOT, "Protos"), help="root of the .proto subset")
    parser.add_argument("--protoc", default=os.environ.get("PROTOC", "protoc"))
    parser.add_argument("--include", default=os.environ.get("WKT_INCLUDE", "/usr/include"),
                        help="directory holding google/protobuf/*.proto")
    parser.add_argument("--require-all", action="store_true",
                        help="fail instead of skipping files whose upstream module is not installed")
    args = parser.parse_args(argv)

    if shutil.which(args.protoc) is None:
        print(f"check_protos: {args.protoc} not found (apt-get install -y protobuf-compiler)", file=sys.stderr)
        return 2

    fds = build_descriptor_set(args.protoc, args.protos, args.include)
    checker = Checker()
    skipped = 0
    for ours in fds.file:
        if ours.name.startswith("google/protobuf/"):
            continue  # well-known types come from protoc's own include dir, not from Protos/
        theirs, reason = upstream_file(ours.name)
        if theirs is None:
            if args.require_all:
                checker.error(f"{ours.name}: {reason}")
            else:
                print(f"SKIP {ours.name}: {reason}")
                skipped += 1
            continue
        checker.check_file(ours, theirs)

    for err in checker.errors:
        print(f"MISMATCH {err}")
    summary = ", ".join(f"{v} {k}" for k, v in checker.counts.items())
    print(f"checked {summary}; skipped {skipped} files; {len(checker.errors)} mismatches")
    return 1 if checker.errors else 0


if __name__ == "__main__":
    sys.exit(main())
