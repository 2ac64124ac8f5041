"""GoogLeNet / Inception v1 (Szegedy et al. 2014): nine inception modules, each running
1x1, 3x3, 5x5 convolutions and a 3x3 max pool side by side and concatenating the results.

Built as torchvision builds it (batch norm after every convolution, eps 1e-3), so the
count matches its 6,624,904 parameters without the auxiliary classifiers. Like torchvision,
the "5x5" branch uses a 3x3 kernel (a known quirk of the ported weights); pass
`branch3_kernel=5` for the paper's 5x5. `aux_logits=True` (the `googlenet_aux` entry) adds
the two auxiliary classifiers after 4a and 4d; during training their losses count 0.3 each."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from convnet.models.registry import register

PAPER = "Szegedy et al., Going deeper with convolutions (CVPR 2015)"


def conv(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False),
                         nn.BatchNorm2d(cout, eps=0.001), nn.ReLU(inplace=True))


class Inception(nn.Module):
    def __init__(self, cin: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, pool_proj: int,
                 branch3_kernel: int = 3):
        super().__init__()
        self.branch1 = conv(cin, c1, 1)
        self.branch2 = nn.Sequential(conv(cin, c3r, 1), conv(c3r, c3, 3))
        self.branch3 = nn.Sequential(conv(cin, c5r, 1), conv(c5r, c5, branch3_kernel))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), conv(cin, pool_proj, 1))

    def forward(self, x):
        branches = (self.branch1, self.branch2, self.branch3, self.branch4)
        return torch.cat([b(x) for b in branches], 1)      # channels c1 + c3 + c5 + pool_proj


class AuxClassifier(nn.Module):
    def __init__(self, cin: int, num_classes: int):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d((4, 4))
        self.conv = conv(cin, 128, 1)
        self.fc1, self.fc2 = nn.Linear(2048, 1024), nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(0.7)

    def forward(self, x):
        x = torch.flatten(self.conv(self.pool(x)), 1)       # [B, 128, 4, 4] -> [B, 2048]
        return self.fc2(self.dropout(F.relu(self.fc1(x), inplace=True)))


# (in, 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj): the paper's table 1
TABLE = {
    "3a": (192, 64, 96, 128, 16, 32, 32), "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64), "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64), "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128),
    "5a": (832, 256, 160, 320, 32, 128, 128), "5b": (832, 384, 192, 384, 48, 128, 128),
}


class GoogLeNet(nn.Module):
    def __init__(self, num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = False,
                 dropout: float = 0.2, branch3_kernel: int = 3):
        super().__init__()
        def inc(key):
            return Inception(*TABLE[key], branch3_kernel=branch3_kernel)

        self.stem = nn.Sequential(
            conv(in_channels, 64, 7, 2), nn.MaxPool2d(3, 2, ceil_mode=True),   # 224 -> 112 -> 56
            conv(64, 64, 1), conv(64, 192, 3), nn.MaxPool2d(3, 2, ceil_mode=True))  # -> 28
        self.inception3 = nn.Sequential(inc("3a"), inc("3b"), nn.MaxPool2d(3, 2, ceil_mode=True))  # -> 14
        self.inception4a = inc("4a")
        self.inception4bcd = nn.Sequential(inc("4b"), inc("4c"), inc("4d"))
        self.inception4e = nn.Sequential(inc("4e"), nn.MaxPool2d(2, 2, ceil_mode=True))  # -> 7
        self.inception5 = nn.Sequential(inc("5a"), inc("5b"))
        self.aux1 = AuxClassifier(512, num_classes) if aux_logits else None
        self.aux2 = AuxClassifier(528, num_classes) if aux_logits else None
        self.pool, self.dropout = nn.AdaptiveAvgPool2d(1), nn.Dropout(dropout)
        self.fc = nn.Linear(1024, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.01, a=-2, b=2)

    def features(self, x):
        """Final logits, plus the two auxiliary logits when training with them."""
        a = self.inception4a(self.inception3(self.stem(x)))
        d = self.inception4bcd(a)
        x = self.inception5(self.inception4e(d))
        logits = self.fc(self.dropout(torch.flatten(self.pool(x), 1)))   # [B, 1024, 1, 1] -> [B, 1024]
        if self.aux1 is not None and self.training:
            return logits, self.aux1(a), self.aux2(d)
        return logits, None, None

    def forward(self, x):
        return self.features(x)[0]

    def training_loss(self, x, y, label_smoothing: float = 0.0):
        """(loss, logits): the main loss plus 0.3 x each auxiliary loss (section 5)."""
        logits, aux1, aux2 = self.features(x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing)
        for aux in (aux1, aux2):
            if aux is not None:
                loss = loss + 0.3 * F.cross_entropy(aux.float(), y, label_smoothing=label_smoothing)
        return loss, logits


INFO = dict(input_size=(224, 224), in_channels=3, num_classes=1000, year=2014, paper=PAPER)
register("googlenet", **INFO, description="Inception v1, 9 inception modules, batch norm")(GoogLeNet)
register("googlenet_aux", **INFO, description="Inception v1 with its two auxiliary classifiers",
         kwargs={"aux_logits": True})(GoogLeNet)
