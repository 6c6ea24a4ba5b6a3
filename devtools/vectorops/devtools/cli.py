"""`vectorops-dev`: the embedded development environment and the control-plane binaries."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _up(args: argparse.Namespace) -> int:
    from vectorops.devtools.dev import default_paths, run_dev

    workdir, examples, crds = default_paths()
    return run_dev(workdir, Path(args.examples) if args.examples else examples, crds)


def _controlplane(args: argparse.Namespace) -> int:
    from vectorops.devtools.binaries import ensure_binaries

    bins = ensure_binaries()
    print(f"etcd={bins.etcd}\nkube-apiserver={bins.kube_apiserver}\nkubectl={bins.kubectl}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vectorops-dev", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("up", help="local control plane + operator + examples, until Ctrl-C (the default)")
    p.add_argument("--examples", help="manifests to apply (default: examples/quickstart)")
    p.set_defaults(func=_up)
    p = sub.add_parser("controlplane", help="build (if needed) and print the control-plane binaries")
    p.set_defaults(func=_controlplane)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is None:
        args = build_parser().parse_args(["up", *(argv or [])])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
