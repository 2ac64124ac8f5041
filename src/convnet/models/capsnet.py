"""CapsNet (Sabour, Frosst, Hinton 2017): capsules whose length is the probability that an
entity is present, routed to class capsules by agreement.

    28x28 -> Conv1 256 9x9 ReLU (20x20) -> PrimaryCaps 32 x 8D, 9x9 stride 2 (6x6: 1,152 capsules)
    -> DigitCaps 10 x 16D (3 routing iterations) -> lengths = class scores
    decoder: the true class's 16D vector -> 512 -> 1024 -> 784 sigmoid (the reconstruction)

Loss (section 3 and 4.1): margin loss (m+ 0.9, m- 0.1, lambda 0.5) + 0.0005 x sum of squared
reconstruction errors. `forward` returns log capsule lengths, so argmax is the longest capsule
and a softmax gives the lengths normalised to sum 1; `training_loss` is what the training
loop optimises. 8,215,568 parameters on MNIST."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from convnet.models.registry import register
from convnet.reference.shapes import output_size

PAPER = "Sabour, Frosst, Hinton, Dynamic routing between capsules (NIPS 2017)"


def squash(s: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Shrink short vectors to ~0 and long ones to just under 1, keeping direction (eq. 1)."""
    n2 = (s * s).sum(dim, keepdim=True)
    return s * (n2 / (1 + n2) / torch.sqrt(n2 + 1e-8))


class PrimaryCaps(nn.Module):
    def __init__(self, cin: int = 256, capsules: int = 32, dim: int = 8):
        super().__init__()
        self.dim = dim
        self.conv = nn.Conv2d(cin, capsules * dim, 9, stride=2)

    def forward(self, x):
        u = self.conv(x)                                         # [B, 32*8, 6, 6]
        b, _, h, w = u.shape
        u = u.view(b, -1, self.dim, h, w).permute(0, 1, 3, 4, 2)  # [B, 32, 6, 6, 8]
        return squash(u.reshape(b, -1, self.dim))                # [B, 1152, 8]


class DigitCaps(nn.Module):
    """One 16x8 transform per (primary capsule, class), then routing by agreement."""

    def __init__(self, inputs: int, classes: int, din: int = 8, dout: int = 16, iterations: int = 3):
        super().__init__()
        self.iterations = iterations
        self.W = nn.Parameter(0.01 * torch.randn(inputs, classes, dout, din))

    def forward(self, u):
        u_hat = torch.einsum("icdk,bik->bicd", self.W, u)          # [B, 1152, K, 16] predictions
        logits = torch.zeros(u_hat.shape[:3], device=u.device, dtype=u_hat.dtype)  # [B, 1152, K]
        for r in range(self.iterations):
            c = logits.softmax(dim=2)                               # each capsule splits over classes
            # the agreement updates see detached predictions; only the last pass carries gradients
            pred = u_hat if r == self.iterations - 1 else u_hat.detach()
            v = squash((c.unsqueeze(-1) * pred).sum(1))             # [B, K, 16]
            if r < self.iterations - 1:
                logits = logits + (pred * v.unsqueeze(1)).sum(-1)   # agreement u_hat . v
        return v


class CapsNet(nn.Module):
    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: tuple = (28, 28),
                 routing_iterations: int = 3, reconstruction_weight: float = 0.0005):
        super().__init__()
        self.image_shape = (in_channels, *input_size)
        self.reconstruction_weight = reconstruction_weight
        self.conv1 = nn.Sequential(nn.Conv2d(in_channels, 256, 9), nn.ReLU(inplace=True))
        side = [output_size(output_size(s, 9), 9, stride=2) for s in input_size]   # 28 -> 20 -> 6
        self.primary = PrimaryCaps()
        self.digits = DigitCaps(32 * side[0] * side[1], num_classes, iterations=routing_iterations)
        pixels = in_channels * input_size[0] * input_size[1]
        self.decoder = nn.Sequential(nn.Linear(16 * num_classes, 512), nn.ReLU(inplace=True),
                                     nn.Linear(512, 1024), nn.ReLU(inplace=True),
                                     nn.Linear(1024, pixels), nn.Sigmoid())

    def capsules(self, x):
        return self.digits(self.primary(self.conv1(x)))            # [B, K, 16]

    def forward(self, x):
        return torch.log(self.capsules(x).norm(dim=-1).clamp_min(1e-6))   # [B, K] log lengths

    def reconstruct(self, v: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Decode only the chosen class's capsule (the others masked to zero)."""
        mask = F.one_hot(labels, v.shape[1]).to(v.dtype).unsqueeze(-1)   # [B, K, 1]
        return self.decoder((v * mask).flatten(1)).view(-1, *self.image_shape)

    def training_loss(self, x, y, label_smoothing: float = 0.0):
        """(margin loss + weighted reconstruction loss, log lengths). No label smoothing:
        the margin loss already stops pushing at 0.9 and 0.1."""
        v = self.capsules(x)
        lengths = v.norm(dim=-1)                                      # [B, K]
        t = F.one_hot(y, lengths.shape[1]).to(lengths.dtype)
        margin = t * F.relu(0.9 - lengths) ** 2 + 0.5 * (1 - t) * F.relu(lengths - 0.1) ** 2
        recon = self.reconstruct(v, y)
        loss = margin.sum(1).mean() + self.reconstruction_weight * \
            ((recon - unit_range(x)) ** 2).flatten(1).sum(1).mean()
        return loss, torch.log(lengths.clamp_min(1e-6))


def unit_range(x: torch.Tensor) -> torch.Tensor:
    """The normalised input mapped back to [0, 1] per image: the decoder's sigmoid target."""
    flat = x.flatten(1)
    lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    return ((flat - lo) / (hi - lo).clamp_min(1e-6)).view_as(x)


# The paper trains with Adam at lr 1e-3; SGD at the project's lr barely moves the capsules in
# the few hundred steps a CPU affords. Small batches: the 8M-parameter net is compute-bound, so
# batch 64 costs no speed and gives 4x the updates of 256.
TRAINING = {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.0, "batch_size": 64}


@register("capsnet", input_size=(28, 28), in_channels=1, num_classes=10, fixed_size=True, year=2017,
          paper=PAPER, description="conv + primary capsules + 16D class capsules, dynamic routing, decoder",
          training=TRAINING)
def capsnet(num_classes: int = 10, in_channels: int = 1, **kwargs) -> nn.Module:
    return CapsNet(num_classes, in_channels, **kwargs)
