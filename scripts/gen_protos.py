#!/usr/bin/env python3
"""Regenerate the Python modules of every .proto under proto/ (committed; installs need no compiler).

proto/ mirrors the package tree: proto/otel_lite/collector/legacy_proto/x/y.proto becomes
otel_lite/collector/legacy_proto/x/y_pb2.py (+ _pb2_grpc.py, .pyi; otel_lite/collector is the
collector/ folder), so generated imports are absolute imports of our own package.

grpcio-tools is not a project dependency: it pins its own protobuf, which would
downgrade the runtime's. Run it from a throwaway venv:

    python3 -m venv /tmp/gentools && /tmp/gentools/bin/pip install 'grpcio-tools==1.85.1'
    python3 scripts/gen_protos.py --python /tmp/gentools/bin/python   # or GEN_PROTOS_PYTHON=...

The committed modules come from grpcio-tools 1.85.1 (protoc 35.1, gencode
protobuf 7.35.1). Generated code refuses to import under a runtime older than
its gencode (protobuf, same major) or than the grpcio-tools that made it
(grpcio), so pyproject's floors follow the tools used here. After generating,
the modules are imported with this interpreter (skip with ``--no-check``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument(
        "--python",
        default=os.environ.get("GEN_PROTOS_PYTHON", sys.executable),
        help="interpreter with grpcio-tools installed (default: $GEN_PROTOS_PYTHON or this one)",
    )
    ap.add_argument("--no-check", action="store_true", help="skip importing the generated modules")
    args = ap.parse_args(argv)

    sources = sorted(p.relative_to(PROTO_DIR).as_posix() for p in PROTO_DIR.rglob("*.proto"))
    if not sources:
        print("no .proto files under", PROTO_DIR, file=sys.stderr)
        return 1
    # `python -m grpc_tools.protoc` adds the well-known types (google/protobuf/*.proto) to the include path
    cmd = [
        args.python,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTO_DIR}",
        f"--python_out={ROOT}",
        f"--pyi_out={ROOT}",
        f"--grpc_python_out={ROOT}",
        *sources,
    ]
    subprocess.run([args.python, "-m", "grpc_tools.protoc", "--version"], check=True)
    subprocess.run(cmd, check=True, cwd=ROOT)

    # every directory holding generated code must be a regular package for setuptools' discovery
    modules = []
    for src in sources:
        out_dir = ROOT / Path(src).parent
        d = out_dir
        while d != ROOT / "otel_lite" and d.is_relative_to(ROOT / "otel_lite" / "collector"):
            init = d / "__init__.py"
            if not init.exists():
                init.write_text('"""Generated protobuf modules (scripts/gen_protos.py); do not edit."""\n')
            d = d.parent
        modules.append(src[: -len(".proto")].replace("/", ".") + "_pb2")
        print("generated", src)

    if not args.no_check:
        check = (
            "import importlib, sys\n"
            "for m in sys.argv[1:]:\n"
            "    importlib.import_module(m)\n"
            "    importlib.import_module(m + '_grpc')\n"
        )
        subprocess.run([sys.executable, "-c", check, *modules], check=True, cwd=ROOT)
        print(f"imported {len(modules)} modules (and their _grpc modules) with {sys.executable}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
