"""`convnet demo` replaces only its own run folder, and checks its options before touching any."""

import pytest

from helpers import assert_one_line_error, cli_in_process


def _real_run(folder):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"model": {"name": "convnet"}}')
    (folder / "model.safetensors").write_bytes(b"irreplaceable")
    return folder


def _untouched(folder):
    return (sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
            and (folder / "model.safetensors").read_bytes() == b"irreplaceable")


@pytest.mark.parametrize("epochs", ["0", "-3", "two"])
def test_bad_epochs_fail_before_anything_is_touched(tmp_path, epochs):
    run = _real_run(tmp_path / "demo")
    assert_one_line_error(cli_in_process("demo", "--epochs", epochs, "--out", run), "--epochs")
    assert _untouched(run)


def test_a_real_run_named_demo_is_refused_not_deleted(tmp_path):
    run = _real_run(tmp_path / "demo")
    assert_one_line_error(cli_in_process("demo", "--epochs", "1", "--out", run),
                          str(run), "not a run made by `convnet demo`")
    assert _untouched(run)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]


def test_demo_replaces_its_own_run(tmp_path):
    out = tmp_path / "demo"
    first = cli_in_process("demo", "--epochs", "1", "--out", out)
    assert first.returncode == 0, first.stderr
    assert (out / ".demo").is_file() and (out / "model.safetensors").is_file()
    (out / "stale-file").write_text("from the first demo")
    second = cli_in_process("demo", "--epochs", "1", "--out", out)
    assert second.returncode == 0, second.stderr
    assert not (out / "stale-file").exists() and (out / "results.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]      # nothing left aside


def test_a_failed_demo_puts_the_previous_demo_back(tmp_path, monkeypatch):
    import convnet.training.loop as loop
    from convnet.errors import ConfigError

    out = tmp_path / "demo"
    out.mkdir()
    (out / ".demo").write_text("")
    (out / "model.safetensors").write_bytes(b"previous demo")

    def failing_train(cfg, **_):
        (out).mkdir()
        (out / "config.json").write_text("{}")          # a partial new run
        raise ConfigError("training failed")

    monkeypatch.setattr(loop, "train", failing_train)
    assert_one_line_error(cli_in_process("demo", "--epochs", "1", "--out", out), "training failed")
    assert (out / "model.safetensors").read_bytes() == b"previous demo"
    assert not (out / "config.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]
