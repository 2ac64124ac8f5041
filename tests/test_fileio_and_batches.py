"""Atomic writes, and the tensor batch pipeline against a per-image reference."""

import os

import pytest
import torch
import torch.nn.functional as F

from convnet.data.batches import Augment, BatchIterator, Preprocess, random_crop
from convnet.data.tensors import TensorData
from convnet.fileio import atomic_write, atomic_write_json


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    path = tmp_path / "model.safetensors"
    atomic_write_json(path, {"v": 1})

    def crash(tmp):
        with open(tmp, "w") as f:
            f.write('{"v": 2, "half')
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(path, crash)
    assert path.read_text().strip().replace(" ", "").replace("\n", "") == '{"v":1}'
    assert os.listdir(tmp_path) == ["model.safetensors"]            # no temporary file left


def test_random_crop_equals_per_image_shift():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, 3, 10, 12)
    out = random_crop(x, 3, g)
    g = torch.Generator().manual_seed(0)
    dy = torch.randint(0, 7, (16,), generator=g)
    dx = torch.randint(0, 7, (16,), generator=g)
    padded = F.pad(x, (3, 3, 3, 3))
    for i in range(16):
        expected = padded[i, :, dy[i]:dy[i] + 10, dx[i]:dx[i] + 12]
        assert torch.equal(out[i], expected)


def test_flip_flips_about_half_and_only_horizontally():
    x = torch.arange(64 * 4 * 4, dtype=torch.float32).view(64, 1, 4, 4)
    out = Augment(crop_padding=0, hflip=True)(x, torch.Generator().manual_seed(1))
    flipped = [bool(torch.equal(out[i], x[i].flip(-1))) for i in range(64)]
    kept = [bool(torch.equal(out[i], x[i])) for i in range(64)]
    assert all(f or k for f, k in zip(flipped, kept)) and 16 < sum(flipped) < 48


def test_preprocess_fits_channels_and_size_and_normalises():
    p = Preprocess(channels=3, size=(8, 8), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    gray = torch.full((2, 1, 4, 4), 255, dtype=torch.uint8)
    x = p(gray)
    assert x.shape == (2, 3, 8, 8) and torch.allclose(x, torch.full_like(x, 2.0))
    p1 = Preprocess(channels=1, size=(4, 4), mean=(0.0,), std=(1.0,))
    rgb = torch.zeros(1, 3, 4, 4, dtype=torch.uint8)
    rgb[:, 1] = 255                                                  # pure green -> luma 0.587
    assert torch.allclose(p1(rgb), torch.full((1, 1, 4, 4), 0.587))


def test_batches_cover_the_data_once_per_epoch():
    data = TensorData(torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 1, 2, 2).contiguous(),
                      torch.arange(10))
    p = Preprocess(1, (2, 2), (0.0,), (1.0,))
    batches = BatchIterator(data, 4, p, shuffle=True, seed=0)
    labels = torch.cat([y for _, y in batches])
    assert len(batches) == 3 and sorted(labels.tolist()) == list(range(10))
    for x, y in batches:                                             # the images travel with their labels
        assert torch.allclose(x[:, 0, 0, 0] * 255, y.float())
    assert len(BatchIterator(data, 4, p, shuffle=True, drop_last=True)) == 2


@pytest.mark.parametrize("schedule", ["onecycle", "cosine", "constant"])
@pytest.mark.parametrize("total_steps", [1, 2, 3, 4, 5, 7, 100])
def test_schedules_survive_very_short_runs(schedule, total_steps):
    from convnet.training.config import TrainConfig
    from convnet.training.optim import make_optimizer, make_schedule

    model = torch.nn.Linear(2, 2)
    cfg = TrainConfig(schedule=schedule, lr=0.1)
    opt = make_optimizer(model, cfg)
    sched = make_schedule(opt, cfg, total_steps)
    lrs = []
    for _ in range(total_steps):
        lrs.append(opt.param_groups[0]["lr"])                        # the rate this step uses
        opt.step()
        sched.step()
    assert all(0 <= lr <= 0.1 + 1e-12 for lr in lrs)
    if schedule == "onecycle" and total_steps >= 4:                  # warms up, peaks, anneals
        assert lrs[0] < 0.01 and max(lrs) == pytest.approx(0.1, rel=0.05) and lrs[-1] < 0.01
