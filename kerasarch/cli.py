"""The ``kerasarch`` command.

    kerasarch list [PATTERN]              registered models (wildcards, e.g. 'resnet*')
    kerasarch summary [PATTERN] [--json]  parameters and GMACs of each model at its default input
"""

import argparse
import json
import os
import sys


def _list(args):
    from kerasarch.registry import list_models, model_entry

    for name in list_models(args.pattern):
        entry = model_entry(name)
        print(f"{name:24s} {entry.family:14s} {'x'.join(map(str, entry.input_shape))}")
    return 0


def _summary(args):
    from kerasarch.summary import format_table, summary_table

    rows = summary_table(args.pattern, macs=not args.no_macs)
    if not rows:
        print(f"no registered model matches {args.pattern!r}; see `kerasarch list`", file=sys.stderr)
        return 1
    print(json.dumps(rows, indent=2) if args.json else format_table(rows))
    return 0


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(prog="kerasarch", description="Classic architectures for Keras 3.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="list registered models")
    p.add_argument("pattern", nargs="?", default="*")
    p.set_defaults(run=_list)
    p = sub.add_parser("summary", help="parameters and GMACs of each model (Markdown table)")
    p.add_argument("pattern", nargs="?", default="*")
    p.add_argument("--json", action="store_true", help="JSON rows instead of a Markdown table")
    p.add_argument("--no-macs", action="store_true", help="skip the GMACs (no tracing; faster)")
    p.set_defaults(run=_summary)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
