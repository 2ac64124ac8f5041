"""One self-contained HTML page per run: curves, confusion matrix, per-class precision and
recall, confidently wrong images, first-layer filters, the model summary and the config.
Every picture is inlined as a data: URI and the styles are inline, so the file opens
offline and asks the network for nothing."""

from __future__ import annotations

import base64
import html
import io
import json
import os
from pathlib import Path

from convnet.visualize.artifacts import ANALYSIS, PLOTS

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}img{max-width:100%;border:1px solid #eee}
pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:.85em}.facts span{margin-right:2em}
.warn{color:#a40}
"""


def model_summary(model, preprocess) -> tuple[list[dict], int]:
    """Each leaf layer's name, kind, output shape and parameters, for one input of the run's size."""
    import torch

    from convnet.visualize.activations import layer_outputs, leaf_modules

    x = torch.zeros(1, preprocess.channels, *preprocess.size)
    _, outs = layer_outputs(model, x)
    params = {n: sum(p.numel() for p in m.parameters()) for n, m in leaf_modules(model)}
    rows = [{"name": o.name, "kind": o.kind, "shape": "x".join(map(str, o.output.shape[1:])),
             "params": params.get(o.name, 0)} for o in outs]
    return rows, sum(p.numel() for p in model.parameters())


def build_report(run_dir: str | Path) -> str:
    """The report of a run as one HTML string. Plots missing from RUN_DIR/plots are drawn again."""
    from convnet.training import runs
    from convnet.visualize.common import load_run
    from convnet.visualize.filters import plot_filters
    from convnet.visualize.plots import plot_curves

    run_dir = Path(run_dir)
    run = runs.RunDir.open(run_dir)
    image = run.task == "classify"          # filters and a layer table need an image model
    clf = load_run(run_dir) if image else None
    config, history = run.config, runs.read_metrics(run_dir)
    results = _read_json(run_dir / runs.RESULTS)
    notes = []
    analysis = _read_json(run_dir / PLOTS / ANALYSIS)
    if analysis is None:
        analysis = _rebuild(run_dir, notes)
    if image:
        summary, total = model_summary(clf.model, clf.preprocess)
    else:
        summary, total = None, sum(p.numel() for p in run.build_model().parameters())
    parts = [_header(run_dir, config, results, total)]
    parts += [f'<p class="warn">{html.escape(n)}</p>' for n in notes]
    parts.append(_section("Learning curves", _img(_png(plot_curves(history)))))
    if analysis:
        parts.append(_section("Confusion matrix (test)", _img(_file(run_dir / PLOTS / "confusion.png"))))
        parts.append(_section("Per-class precision and recall (test)",
                              _per_class_table(analysis) + _img(_file(run_dir / PLOTS / "per_class.png"))))
        if (run_dir / PLOTS / "wrong.png").is_file():
            parts.append(_section("Most confidently wrong test images", _img(_file(run_dir / PLOTS / "wrong.png"))))
    if image:
        parts.append(_section("First-layer filters", _img(_png(plot_filters(clf.model)))))
        parts.append(_section("Model", _summary_table(summary, total)))
    else:
        name = html.escape(str(config.get("model", {}).get("name")))
        parts.append(_section("Model", f"<p>{name} ({run.task} task), {total:,} parameters</p>"))
    parts.append(_section("Configuration", f"<pre>{html.escape(json.dumps(config, indent=2))}</pre>"))
    title = html.escape(f"convnet report: {run_dir.name}")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    from convnet.errors import ConfigError
    from convnet.fileio import atomic_write_bytes

    out = Path(out) if out else Path(run_dir) / "report.html"
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; give a file name such as {out / 'report.html'}")
    atomic_write_bytes(out, build_report(run_dir).encode("utf-8"))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(out, 0o666 & ~umask)        # a page to share, unlike the private temp file it was
    return out


def _rebuild(run_dir: Path, notes: list[str]) -> dict | None:
    from convnet.errors import ConvnetError
    from convnet.visualize.artifacts import rebuild_run_artifacts

    try:
        return rebuild_run_artifacts(run_dir) or None
    except ConvnetError as e:
        notes.append(f"test-set plots not available: {e}")
        return None


def _header(run_dir: Path, config: dict, results: dict | None, params: int) -> str:
    model, pre = config.get("model", {}), config.get("preprocess", {})
    test = (results or {}).get("test") or {}
    data = config.get("data", {})
    facts = {
        "model": model.get("name"), "parameters": f"{params:,}",
        "data": data.get("name") or data.get("path") or config.get("train", {}).get("data"),
        "input": "x".join(map(str, pre.get("size", []))) + f"x{pre.get('channels')}",
        "classes": len(config.get("classes", [])),
        "test accuracy": f"{test['accuracy']:.2%} of {test['n']:,}" if "accuracy" in test else "not evaluated",
        "training time": f"{results['train_seconds']:.1f} s" if results and "train_seconds" in results else "?",
    }
    spans = "".join(f"<span><b>{html.escape(k)}</b>: {html.escape(str(v))}</span>" for k, v in facts.items())
    return f"<h1>{html.escape(run_dir.name)}</h1><p class=\"facts\">{spans}</p>"


def _per_class_table(analysis: dict) -> str:
    fmt = lambda v: "&ndash;" if v is None else f"{v:.3f}"   # noqa: E731
    conf = analysis["confusion"]
    rows = "".join(f'<tr><td class="l">{html.escape(c)}</td><td>{fmt(p)}</td><td>{fmt(r)}</td><td>{sum(conf[i])}</td></tr>'
                   for i, (c, p, r) in enumerate(zip(analysis["classes"], analysis["precision"], analysis["recall"])))
    return ('<table><tr><th class="l">class</th><th>precision</th><th>recall</th><th>test images</th></tr>'
            f"{rows}</table>")


def _summary_table(rows: list[dict], total: int) -> str:
    body = "".join(f'<tr><td class="l">{html.escape(r["name"])}</td><td class="l">{html.escape(r["kind"])}</td>'
                   f'<td>{r["shape"]}</td><td>{r["params"]:,}</td></tr>' for r in rows)
    return ('<table><tr><th class="l">layer</th><th class="l">kind</th><th>output (CxHxW)</th>'
            f"<th>parameters</th></tr>{body}<tr><th class=\"l\" colspan=3>total</th><th>{total:,}</th></tr></table>")


def _section(title: str, body: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2>{body}</section>"


def _img(data: bytes | None) -> str:
    if data is None:
        return '<p class="warn">(picture missing)</p>'
    return f'<img alt="" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def _file(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
