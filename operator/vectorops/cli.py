"""The `vectorops` command: operator, embedder, gateway, crds, rules, dashboards. (Development tools:
`vectorops-dev`.)"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path


def _crds(args: argparse.Namespace) -> int:
    from vectorops.operator.api.crdgen import render_all

    out = Path(args.output)
    rendered = render_all()
    if args.check:
        stale = []
        for name, text in rendered.items():
            path = out / name
            current = path.read_text() if path.exists() else ""
            if current != text:
                stale.append(name)
                sys.stdout.writelines(
                    difflib.unified_diff(
                        current.splitlines(True), text.splitlines(True), str(path), f"{path} (generated)"
                    )
                )
        extra = sorted(p.name for p in out.glob("vectorops.io_*.yaml") if p.name not in rendered)
        if stale or extra:
            print(
                f"\ncrds/ is stale ({', '.join(stale + extra)}): run `make crds` and commit", file=sys.stderr
            )
            return 1
        print(f"crds/ is up to date ({len(rendered)} CRDs)")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (out / name).write_text(text)
    for p in out.glob("vectorops.io_*.yaml"):
        if p.name not in rendered:
            p.unlink()
    print(f"wrote {len(rendered)} CRDs to {out}")
    return 0


RULE_FILES = "*.rules.yaml"


def _rules(args: argparse.Namespace) -> int:
    """The Prometheus rule files the operator's builders make for every object under --examples, plus
    the operator's own group: one file per object (`<kind>-<namespace>-<name>.rules.yaml`)."""
    import yaml

    from vectorops.operator.builders.alert_rules import object_rules, operator_rules

    out = Path(args.output)
    files: dict[str, dict[str, object]] = {"operator.rules.yaml": operator_rules()}
    for path in sorted(Path(args.examples).rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict):
                continue
            group = object_rules(doc)
            if group is None:
                continue
            meta = doc.get("metadata") or {}
            name = f"{doc['kind'].lower()}-{meta.get('namespace') or 'default'}-{meta['name']}.rules.yaml"
            if name in files:
                print(f"{path}: {doc['kind']} {meta['name']} is defined twice", file=sys.stderr)
                return 1
            files[name] = group
    out.mkdir(parents=True, exist_ok=True)
    for p in out.glob(RULE_FILES):
        if p.name not in files:
            p.unlink()
    for name, group in files.items():
        (out / name).write_text(yaml.safe_dump({"groups": [group]}, sort_keys=False, width=120))
    print(f"wrote {len(files)} rule files to {out}")
    return 0


def _dashboards(args: argparse.Namespace) -> int:
    """The Grafana dashboards (`<name>.json`) and configmaps.yaml, their ConfigMaps for Grafana's sidecar."""
    from vectorops.operator.builders.dashboards import render_all

    out = Path(args.output)
    files = render_all()
    out.mkdir(parents=True, exist_ok=True)
    for p in out.glob("vectorops-*.json"):
        if p.name not in files:
            p.unlink()
    for name, text in files.items():
        (out / name).write_text(text)
    print(f"wrote {len(files) - 1} dashboards and their ConfigMaps to {out}")
    return 0


def _operator(args: argparse.Namespace) -> int:
    from vectorops.operator.main import main
    from vectorops.operator.settings import OperatorSettings

    overrides = {}
    if args.namespace:
        overrides["namespaces"] = args.namespace
    if args.default_store:
        overrides["default_store"] = args.default_store
    main(OperatorSettings(**overrides))
    return 0


def _embedder(args: argparse.Namespace) -> int:
    from vectorops.embedder.app import serve
    from vectorops.embedder.settings import EmbedderSettings

    overrides = {k: v for k, v in vars(args).items() if k in EmbedderSettings.model_fields and v is not None}
    serve(EmbedderSettings(**overrides))
    return 0


def _gateway(args: argparse.Namespace) -> int:
    from vectorops.gateway.app import serve
    from vectorops.gateway.settings import GatewaySettings

    overrides = {k: v for k, v in vars(args).items() if k in GatewaySettings.model_fields and v is not None}
    serve(GatewaySettings(**overrides))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vectorops", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("operator", help="run the operator (settings from VECTOROPS_* env vars)")
    p.add_argument(
        "-n", "--namespace", action="append", help="watch this namespace (repeatable); default all"
    )
    p.add_argument("--default-store", help="VectorStore for resources that name none")
    p.set_defaults(func=_operator)

    p = sub.add_parser("crds", help="generate the CRD YAML from the models")
    p.add_argument("-o", "--output", default="crds", help="directory (default: crds)")
    p.add_argument("--check", action="store_true", help="fail with a diff if the directory is stale")
    p.set_defaults(func=_crds)

    p = sub.add_parser("rules", help="render the Prometheus rule files for the objects in examples/")
    p.add_argument("-o", "--output", default="build/rules", help="directory (default: build/rules)")
    p.add_argument(
        "--examples", default="examples", help="manifests to read, recursively (default: examples)"
    )
    p.set_defaults(func=_rules)

    p = sub.add_parser("dashboards", help="render the Grafana dashboards and their sidecar ConfigMaps")
    p.add_argument("-o", "--output", default="dashboards", help="directory (default: dashboards)")
    p.set_defaults(func=_dashboards)

    p = sub.add_parser("embedder", help="serve an embedding model (settings: VECTOROPS_EMBEDDER_* env vars)")
    p.add_argument("--model", help="model directory or Hugging Face repo id")
    p.add_argument("--served-name", dest="served_name", help="name clients use in the model field")
    p.add_argument("--device", choices=["cpu", "cuda"])
    p.add_argument("--precision", choices=["fp32", "fp16", "bf16"])
    p.add_argument("--redis-url", dest="redis_url")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(func=_embedder)

    p = sub.add_parser("gateway", help="serve a namespace's models (settings: VECTOROPS_GATEWAY_* env vars)")
    p.add_argument("--namespace", help="the namespace whose route table, Secrets and keys to serve")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(func=_gateway)

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
