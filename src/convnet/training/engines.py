"""The two engines that take a training step: PyTorch (autograd, any optimiser, AMP) and the
NumPy reference engine (convnet.reference: forward and backward written out, SGD).

The loop sees only this interface, so it is the same loop for both:

    engine.step(batch) -> (loss: 0-d tensor, Tally)   one forward, backward and update
    engine.lr                                        the learning rate that step used
    engine.module()                                  a torch module holding the current weights
                                                     (what is evaluated and checkpointed)
    engine.state_dict() / load_state_dict(d)         optimiser (and schedule) state, for resume
"""

from __future__ import annotations

import numpy as np
import torch

from convnet.errors import ConfigError
from convnet.training.optim import make_optimizer, make_schedule

ENGINES = ("torch", "reference")


def make_engine(name: str, task, model: torch.nn.Module, cfg, hw, total_steps: int,
                head: set[str] | None = None):
    """head: with --init, the parameters learnt anew (the rest at --body-lr-mult)."""
    _check_options(name, task, cfg)
    if name == "reference":
        return ReferenceEngine(task, model, cfg, hw, total_steps)
    return TorchEngine(task, model, cfg, hw, total_steps, head)


def check_engine(name: str, task, cfg, model: torch.nn.Module) -> None:
    """Everything that would make `name` refuse this run, checked before a run directory is made."""
    _check_options(name, task, cfg)
    if name == "reference":
        from convnet.reference_bridge import from_torch

        from_torch(model, cfg.seed)


def _check_options(name: str, task, cfg) -> None:
    if name not in ENGINES:
        raise ConfigError(f"unknown engine {name!r} (choose {', '.join(ENGINES)})")
    if name not in task.engines:
        raise ConfigError(f"the {task.name} task trains with the {' or '.join(task.engines)} engine, "
                          f"not {name!r}")
    if name == "reference":
        if cfg.optimizer != "sgd":
            raise ConfigError(f"--engine reference trains with sgd only, not {cfg.optimizer!r}")
        for flag, value in (("--ema", cfg.ema), ("--init", cfg.init), ("--mixup", cfg.mixup),
                            ("--cutmix", cfg.cutmix), ("--class-weights", cfg.class_weights)):
            if value:
                raise ConfigError(f"{flag} is not available with --engine reference")


class TorchEngine:
    def __init__(self, task, model, cfg, hw, total_steps: int, head: set[str] | None = None):
        self.task, self.model, self.cfg, self.hw = task, model, cfg, hw
        self.opt = make_optimizer(model, cfg, head)
        self.sched = make_schedule(self.opt, cfg, total_steps)
        self.scaler = torch.amp.GradScaler(hw.device.type, enabled=hw.amp_dtype == torch.float16)
        self.lr, self.steps = max(g["lr"] for g in self.opt.param_groups), 0
        self.ema = None
        if cfg.ema:
            from torch.optim.swa_utils import AveragedModel

            # buffers (batch-norm statistics) averaged too, so the average is a whole model
            self.ema = AveragedModel(model, avg_fn=ema_step(cfg.ema), use_buffers=True)

    def step(self, batch):
        self.model.train()
        with self.hw.autocast():
            loss, tally = self.task.loss(self.model, batch, self.cfg)
        if not torch.isfinite(loss):
            raise ConfigError(f"the loss became {loss.item()} at step {self.steps + 1}: the learning "
                              f"rate {self.cfg.resolved_lr()} is probably too high")
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        group = getattr(self, "group", None)
        if group is not None and group.active:         # torchrun: the mean gradient of all processes
            from convnet.training.distributed import average_gradients

            average_gradients(self.model, group)
        self.lr = max(g["lr"] for g in self.opt.param_groups)   # this step's (the head's) rate
        self.scaler.step(self.opt)
        self.scaler.update()
        self.sched.step()
        if hasattr(self.model, "after_step"):          # e.g. Kim's max-norm constraint
            self.model.after_step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        self.steps += 1
        return loss.detach(), tally

    def module(self) -> torch.nn.Module:
        """What is evaluated and saved: the weight average with --ema, else the model."""
        return self.ema.module if self.ema is not None else self.model

    def train_module(self) -> torch.nn.Module:
        return self.model

    def state_dict(self) -> dict:
        state = {"optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
                 "scaler": self.scaler.state_dict(), "steps": self.steps}
        if self.ema is not None:
            state["ema"] = {k: v.detach().cpu() for k, v in self.ema.state_dict().items()}
        return state

    def load_state_dict(self, state: dict) -> None:
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.steps = int(state.get("steps", 0))
        if self.ema is not None:
            if "ema" not in state:
                raise ConfigError("this run's checkpoint has no weight average; it was not trained with --ema")
            self.ema.load_state_dict(state["ema"])


def ema_step(decay: float):
    """The moving average's update with a warm-up: decay_t = min(decay, (1 + t) / (10 + t)) at
    update t (TensorFlow's num_updates rule), so a run of a few hundred steps is not averaged
    mostly over its random start (0.999 alone would weigh the first 1,000 steps' init)."""
    def update(average: torch.Tensor, current: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        t = float(n)
        d = min(decay, (1 + t) / (10 + t))
        return average * d + current * (1 - d)

    return update


class ReferenceEngine:
    """Trains a plain nn.Sequential's twin in NumPy (float32, CPU, SGD), starting from the torch
    module's initial weights, and copies its weights back into the module whenever the loop
    evaluates or checkpoints, so both engines leave the same run directory."""

    def __init__(self, task, model, cfg, hw, total_steps: int):
        from convnet import reference as ref
        from convnet.reference.threads import set_blas_threads
        from convnet.reference_bridge import from_torch

        set_blas_threads(cfg.threads or 1)        # small matmuls: one BLAS thread unless asked (threads.py)
        self.task, self.torch_model, self.cfg, self.total = task, model, cfg, total_steps
        self.net = from_torch(model, cfg.seed)      # same architecture, names and init
        self.opt = ref.SGD(self.net.parameters(), cfg.resolved_lr(), cfg.momentum, cfg.weight_decay,
                           nesterov=cfg.momentum > 0)
        self.lr, self.steps = cfg.resolved_lr(), 0

    def step(self, batch):
        from convnet import reference as ref
        from convnet.reference.trainer import train_step
        from convnet.tasks.base import Tally

        x, y = batch
        self.opt.lr = self.lr = ref.learning_rate(self.steps, self.total, self.cfg.resolved_lr(),
                                                  self.cfg.schedule, self.cfg.warmup)
        loss, right = train_step(self.net, x.contiguous().numpy(), y.numpy(), self.opt,
                                 self.cfg.label_smoothing)
        self.steps += 1
        return torch.tensor(loss), Tally(len(y), right)

    def module(self) -> torch.nn.Module:
        from convnet.reference_bridge import load_reference_into_torch

        load_reference_into_torch(self.net, self.torch_model)
        return self.torch_model

    def train_module(self) -> torch.nn.Module:
        return self.module()

    def state_dict(self) -> dict:
        return {"velocity": {k: torch.from_numpy(v.copy()) for k, v in self.opt.velocity.items()},
                "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        from convnet.reference_bridge import load_torch_into_reference

        load_torch_into_reference(self.torch_model, self.net)       # resumed weights -> NumPy
        self.opt.velocity = {k: np.ascontiguousarray(v.numpy()) for k, v in state["velocity"].items()}
        self.steps = int(state["steps"])
