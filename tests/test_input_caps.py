"""Tiny inputs that would allocate without bound fail fast with a one-line error naming the cap.

Each case runs the real CLI in a subprocess whose address space is capped (RLIMIT_AS), so an
input that tried to allocate would fail with a MemoryError instead of the expected message,
and a timeout guards against one that loops instead (it is a bound, not a measurement)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest
import yaml

from helpers import assert_one_line_error

MEMORY_CAP = 3 << 30          # torch's start-up maps ~1.2 GB of address space; bad input gets the rest


def bounded_cli(*args, env=None, cwd=None) -> subprocess.CompletedProcess:
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))

    return subprocess.run([sys.executable, "-m", "convnet", *map(str, args)], capture_output=True,
                          text=True, timeout=180, preexec_fn=limit, cwd=cwd,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize("notation, fragments", [
    ("[[[conv(1,1)]x1000]x1000]x1000", ["expands to 1,000,000 layers", "more than 10,000"]),
    ("fc(2000000)", ["units=2000000 is more than 65,536 (the cap)"]),
    ("conv(65536,3)-fc(65536)", ["parameters, more than 1,000,000,000 (the cap)"]),
    ("conv(8,100000)-fc", ["kernel=100000 is more than 4,096 (the cap)"]),
    ("input(3,100000,100000)-fc", ["b=100000 is more than 4,096 (the cap)"]),
    ("[" * 3000 + "conv(1,1)" + "]x2" * 3000, ["nested more than 32 deep (the cap)"]),
    ("relu-[relu]x" + "9" * 5000, ["repeat count x999999999999... must be between 1 and 1000"]),
    ("conv(1," + "9" * 5000 + ")", ["is not a number"]),
])
def test_notation_caps(notation, fragments):
    result = bounded_cli("summary", notation)
    assert_one_line_error(result, "convnet summary: error: model notation", *fragments)
    assert len(result.stderr) < 1000                     # the huge text is cut in the message


def test_a_capped_notation_still_trains_within_the_caps():
    from convnet.models import get_spec

    spec = get_spec("[conv(4,3)-relu]x3-gap-fc")
    assert spec.build(10, 1)[0].weight.device.type == "cpu"   # checked on meta, built for real


HUGE_GRID = """\
batch_size: {low: 1, high: 65536}
epochs: {low: 1, high: 1000}
blocks: {low: 1, high: 8}
filters: {low: 1, high: 1024}
"""


def test_a_huge_grid_is_counted_not_made(tmp_path):
    space = tmp_path / "huge.yaml"
    space.write_text(HUGE_GRID)
    out = tmp_path / "study"
    result = bounded_cli("tune", "--method", "grid", "--space", space, "--trials", "9" * 60, "--out", out)
    assert_one_line_error(result, "the grid has", "points, more than 10,000 (the cap)")
    assert not out.exists()


@pytest.mark.parametrize("raw", [
    {"lr": [0.01, 0.1], "blocks": [1, 2], "filters": [8, 16], "epochs": 1},
    {"batch_size": {"low": 1, "high": 50, "step": 7}, "blocks": {"low": 1, "high": 3}, "filters": [8, 16, 32]},
    {"filters": [8, 16]},
    {"filters": 8, "blocks": [1, 2]},
    {"epochs": [1, 2, 3], "dropout": [0.0, 0.5]},
])
def test_grid_size_counts_exactly_the_points_grid_makes(raw):
    from convnet.tune.space import parse_space

    space = parse_space(raw)
    assert space.grid_size() == len(space.grid())


BILLION_LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))


@pytest.mark.parametrize("text, fragment", [
    (BILLION_LAUGHS, "expands to more than 100,000 nodes with its aliases expanded (the cap)"),
    ("a: &a [*a]\n", "an alias refers to the node that contains it"),
    ("[" * 5000 + "]" * 5000 + "\n", "nested more than 100 levels deep (the cap)"),
])
@pytest.mark.parametrize("verb, flag", [("train", "--config"), ("tune", "--space")])
def test_yaml_bombs_are_refused(tmp_path, text, fragment, verb, flag):
    assert len(BILLION_LAUGHS) < 400            # a few hundred bytes, 9**9 strings expanded
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    result = bounded_cli(verb, flag, path, "--out", tmp_path / "out")
    assert_one_line_error(result, str(path), fragment)
    assert not (tmp_path / "out").exists()


def test_yaml_within_the_caps_loads_as_safe_load_does():
    from convnet import safe_yaml

    text = "base: &base {lr: 0.1, epochs: 2}\nother: {<<: *base, epochs: 3}\nlist: [*base, *base]\n"
    assert safe_yaml.load(text) == yaml.safe_load(text)
    with pytest.raises(yaml.YAMLError):
        safe_yaml.load("a: !!python/object:os.system ls\n")    # still the safe constructor


@pytest.mark.parametrize("args, fragments", [
    (["explain", "conv", "--filters", str(10**9)], ["--filters", "1000000000 is more than 64 (the cap)"]),
    (["explain", "conv", "--image-size", "100000"], ["--image-size", "is more than 512 (the cap)"]),
    (["explain", "conv", "--filter-size", "100000"], ["--filter-size", "is more than 512 (the cap)"]),
    (["explain", "conv", "--channels", "100000"], ["--channels", "is more than 64 (the cap)"]),
    (["explain", "pool", "--padding", "100000"], ["--padding", "is more than 512 (the cap)"]),
    (["explain", "network", "lenet5", "--input-size", "100000"], ["--input-size", "more than 1,024 (the cap)"]),
    (["explain", "network", "lenet5", "--num-classes", str(10**9)], ["--num-classes", "(the cap)"]),
    (["explain", "conv", "--seed", "-1"], ["--seed", "-1 must not be negative"]),
    (["serve", "RUN", "--threads", "100000"], ["--threads", "100000 is more than 256 (the cap)"]),
    (["serve", "RUN", "--max-upload-mb", "1e308"], ["--max-upload-mb", "is more than 1,024 MiB (the cap)"]),
    (["show", "dream", "RUN", "--steps", str(10**9)], ["--steps", "is more than 10,000 (the cap)"]),
    (["show", "dream", "RUN", "--size", str(10**9)], ["--size", "is more than 1,024 (the cap)"]),
    (["show", "maps", "RUN", "x.png", "--max-maps", str(10**9)], ["--max-maps", "(the cap)"]),
])
def test_flags_that_size_an_allocation_are_capped(args, fragments):
    from helpers import cli_in_process

    assert_one_line_error(cli_in_process(*args), *fragments)


@pytest.mark.parametrize("spec", ["0-100000000000", "0-200,300-400", "1," * 300 + "1"])
def test_show_dream_filter_ranges_are_counted_before_they_are_made(digits_run, spec):
    result = bounded_cli("show", "dream", digits_run, "--filter", spec, "--out", digits_run / "never.png")
    assert_one_line_error(result, "--filter", "more than 256 filters (the cap)")
    assert not (digits_run / "never.png").exists()
