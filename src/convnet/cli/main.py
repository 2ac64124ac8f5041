"""`convnet VERB ...`: the command-line entry point.

Each verb lives in its own module under convnet.cli with:
    HELP: str                      one line for `convnet --help`
    add_arguments(parser) -> None  its options (no heavy imports here)
    run(args) -> int               the work; raises ConvnetError for bad input
Modules are imported only to build the parser; torch is imported inside run().
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# verb -> module. A verb whose module is absent is simply not offered.
VERBS = {
    "train": "convnet.cli.train",
    "eval": "convnet.cli.evaluate",
    "predict": "convnet.cli.predict",
    "demo": "convnet.cli.demo",
    "models": "convnet.cli.models",
    "tasks": "convnet.cli.tasks",
    "lr-find": "convnet.cli.lr_find",
    "summary": "convnet.cli.summary",
    "explain": "convnet.cli.explain",
    "tune": "convnet.cli.tune",
    "show": "convnet.cli.show",
    "report": "convnet.cli.report",
    "serve": "convnet.cli.serve",
    "export": "convnet.cli.export",
    "check": "convnet.cli.check",
    "ocr": "convnet.cli.ocr",
    "embed": "convnet.cli.embed",
    "index": "convnet.cli.index",
    "search": "convnet.cli.search",
    "dedup": "convnet.cli.dedup",
    "cluster": "convnet.cli.cluster",
}


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, not usage plus a line."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> Parser:
    from convnet import __version__

    parser = Parser(prog="convnet", description="Convolutional neural networks, end to end.")
    parser.add_argument("--version", action="version", version=f"convnet {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=Parser)
    for verb, module_name in VERBS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name == module_name:
                continue
            raise
        p = sub.add_parser(verb, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "verb", None):
        parser.print_help()
        return 2
    from convnet.errors import ConvnetError

    try:
        return int(args._run(args) or 0)
    except ConvnetError as e:
        print(f"convnet {args.verb}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"convnet {args.verb}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # a bug: one line unless asked for the traceback
        if os.environ.get("CONVNET_DEBUG"):
            raise
        print(f"convnet {args.verb}: internal error: {type(e).__name__}: {e} "
              "(set CONVNET_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
