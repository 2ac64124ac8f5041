"""convnet ocr train|eval|read: the OCR verbs, thin aliases of the generic ones with --task ocr.

    convnet ocr train --data digit-lines --data-dir ../shared/datasets/mnist-10k --out RUN
    convnet ocr eval RUN [--data DIR] [--json]       (cer, exact, n, lines/s)
    convnet ocr read RUN IMAGE... [--top K] [--json] (a page image is split into its lines)
"""

from __future__ import annotations

import argparse

HELP = "read text lines: train, evaluate and read with a CRNN + CTC (the ocr task)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from convnet.cli import evaluate, train
    from convnet.cli.options import device_name

    sub = p.add_subparsers(dest="ocr_verb", metavar="train|eval|read", required=True, parser_class=type(p))
    t = sub.add_parser("train", help="train a line reader (like `convnet train --task ocr`)")
    train.add_arguments(t)
    # not TrainConfig fields (yet): set on the config for the task, which stores them with the data
    t.add_argument("--lines", type=_lines, help="digit-lines: training lines to draw (default: 10000)")
    t.add_argument("--test-lines", type=_lines, help="digit-lines: test lines to draw (default: 500)")
    e = sub.add_parser("eval", help="character error rate, exact lines and lines/s of a run")
    evaluate.add_arguments(e)
    r = sub.add_parser("read", help="the text of line images (pages split into lines first)")
    r.add_argument("run_dir", metavar="RUN_DIR")
    r.add_argument("images", metavar="IMAGE", nargs="+", help="line or page images")
    r.add_argument("--top", type=_count, default=1, help="most probable texts to show per line (beam search)")
    r.add_argument("--device", type=device_name, default="auto", help="auto, cpu, cuda, cuda:N or mps")
    r.add_argument("--weights", choices=["auto", "best", "last"], default="auto",
                   help="best: the best validation epoch's; last: the last epoch's (default: best where kept)")
    r.add_argument("--json", action="store_true", help="print one JSON list")


def _lines(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 1_000_000:
        raise argparse.ArgumentTypeError(f"must be 1 to 1000000, got {value}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be 1 to 100, got {value}")
    return value


def run(args) -> int:
    from convnet.errors import ConfigError

    if args.ocr_verb == "train":
        from convnet.cli import train

        if getattr(args, "task", "ocr") != "ocr":
            raise ConfigError(f"`convnet ocr train` trains the ocr task, not --task {args.task}")
        args.task = "ocr"
        if args.lines is None and args.test_lines is None:
            return train.run(args)
        return _train(args)
    _check_run(args.run_dir)
    if args.ocr_verb == "eval":
        return _eval(args)
    return _read(args)


def _train(args) -> int:
    """train.run with the digit-lines sizes set on the config (they are no TrainConfig fields)."""
    from convnet.cli import train
    from convnet.errors import ConfigError
    from convnet.training.loop import train as fit
    from convnet.visualize.artifacts import write_run_artifacts

    if args.resume:
        raise ConfigError("--resume continues a run with its own line counts; remove --lines/--test-lines")
    cfg, _ = train.config_from_args(args, log=print)
    cfg.lines, cfg.test_lines = args.lines, args.test_lines
    write_run_artifacts(fit(cfg), log=print)
    return 0


def _eval(args) -> int:
    """evaluate.run; without --json its report is shown as CER, exact lines and a few misreadings."""
    import contextlib
    import io
    import json

    from convnet.cli import evaluate

    if args.json:
        return evaluate.run(args)
    args.json = True
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = evaluate.run(args)
    r = json.loads(out.getvalue())
    print(f"{r['data']} {r['split']}: CER {r['cer']:.4f} ({r['errors']:,} errors in {r['chars']:,} characters), "
          f"exact lines {r['exact']:.2%}, {r['n']:,} lines, {r['lines_per_second']:,} lines/s (loss {r['loss']:.4f})")
    for e in r["examples"][:5]:
        print(f"  {e['file']}: {e['text']!r} read as {e['read']!r}")
    return code


def _check_run(run_dir: str) -> None:
    from convnet.errors import ConfigError
    from convnet.training.runs import RunDir

    task = RunDir.open(run_dir).task
    if task != "ocr":
        raise ConfigError(f"{run_dir} is a run of the {task} task, not an OCR run (use `convnet eval`/`predict`)")


def _read(args) -> int:
    import json

    from convnet.cli import predict

    rows = predict._other_task(argparse.Namespace(run_dir=args.run_dir, images=args.images, text=[], nodes=[],
                                                  top=args.top, device=args.device, weights=args.weights,
                                                  runtime="torch"))
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    for r in rows:
        if args.top == 1:
            print(f"{r['input']}\t{r['text']}")
        else:
            print(f"{r['input']}\t" + "  ".join(f"{t['class']!r} {t['probability']:.2f}" for t in r["top"]))
    return 0
