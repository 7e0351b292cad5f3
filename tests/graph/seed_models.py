"""Small models for the graph tests: the seeds' PyTorch snippets verbatim, and awkward cases."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SimpleResBlock(nn.Module):
    """Seeds 000/001, verbatim."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, kernel_size=3, padding=1)
        self.relu = nn.ReLU()
        self.conv.weight.data.fill_(0.0)
        self.conv.bias.data.fill_(1.0)

    def forward(self, x):
        out = self.conv(x)
        out = self.relu(out)
        out = out + x
        return out


class ResNetBlock(nn.Module):
    """Seed 002, verbatim: ``ResNetBlock(64, 128)`` adds a 64-channel input to a 128-channel output."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x):
        out = self.relu(self.conv1(x))
        out = self.conv2(out)
        out += x  # skip connection
        out = self.relu(out)
        return out


class StridedBlock(nn.Module):
    """The seed's fifth question: 64 -> 128 channels with stride 2, and no projection."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(64, 128, kernel_size=3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(128, 128, kernel_size=3, padding=1)

    def forward(self, x):
        return F.relu(self.conv2(F.relu(self.conv1(x))) + x)


class StackedBlocks(nn.Module):
    """Two seed blocks in a Sequential, the second one broken, to check the doctor names it."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 64, 3, padding=1)
        self.blocks = nn.Sequential(ResNetBlock(64, 64), ResNetBlock(64, 128))

    def forward(self, x):
        return self.blocks(self.stem(x))


class DataDependent(nn.Module):
    """Control flow on a tensor's value: torch.fx cannot trace it."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 8)
        self.fc2 = nn.Linear(8, 8)
        self.fc3 = nn.Linear(8, 8)

    def forward(self, x):
        h = self.fc1(x)
        if h.sum() > 0:
            h = self.fc2(h)
        else:
            h = self.fc3(h)
        return torch.relu(h) + x


class Raiser(nn.Module):
    def forward(self, x):
        raise ValueError("this layer is not finished")


class RaisesInForward(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 4), Raiser())

    def forward(self, x):
        return self.body(x)


class NoParameters(nn.Module):
    def forward(self, x):
        return torch.tanh(x) * 2 + x


class Encoder(nn.Module):
    """Returns a tuple whose second element is a dict."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.lstm = nn.LSTM(4, 4, batch_first=True)

    def forward(self, x):
        y, (h, c) = self.lstm(self.fc(x).unsqueeze(1))
        return y.squeeze(1), {"skip": x}


class TupleAndDict(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = Encoder()
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        features, extra = self.enc(x)
        return {"logits": self.head(features + extra["skip"]), "features": features}


class InPlaceStatement(nn.Module):
    """``out.add_(x)`` as a statement: later code reads ``out``, which the add changed."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)
        self.act = nn.ReLU()

    def forward(self, x):
        out = self.fc(x)
        out.add_(x)
        return self.act(out)


class PoolingShortcut(nn.Module):
    """A shortcut that only pools (same channels, half the size)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.pool = nn.AvgPool2d(2)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x))) + self.pool(x)


class TinyUNet(nn.Module):
    """Encoder-decoder: a concatenation skip (UNet style) and an additive long skip over both levels."""

    def __init__(self):
        super().__init__()
        self.enc1 = nn.Conv2d(3, 8, 3, padding=1)
        self.down = nn.MaxPool2d(2)
        self.enc2 = nn.Conv2d(8, 16, 3, padding=1)
        self.up = nn.ConvTranspose2d(16, 8, 2, stride=2)
        self.dec1 = nn.Conv2d(16, 8, 3, padding=1)
        self.head = nn.Conv2d(8, 8, 1)

    def forward(self, x):
        e1 = torch.relu(self.enc1(x))
        e2 = torch.relu(self.enc2(self.down(e1)))
        d1 = torch.relu(self.dec1(torch.cat([self.up(e2), e1], 1)))
        return self.head(d1) + e1


class ParallelBranches(nn.Module):
    """Two equally long branches added: a merge, but no skip."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(4, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 4, 5, padding=2)

    def forward(self, x):
        return self.a(x) + self.b(x)


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)

    def forward(self, x, y):
        return self.a(x) + self.b(y)


class SharedBlock(nn.Module):
    """One residual block applied twice around another layer (weights shared)."""

    def __init__(self):
        super().__init__()
        self.block = SimpleResBlock()
        self.mid = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        return self.block(self.mid(self.block(x)))


class ListDenseLayer(nn.Module):
    def __init__(self, channels, growth):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)
        self.conv = nn.Conv2d(channels, growth, 3, padding=1)

    def forward(self, features):
        return self.conv(torch.relu(self.bn(torch.cat(features, 1))))


class ListDenseBlock(nn.Module):
    """torchvision's dense block: every layer concatenates all earlier features, and so does the block."""

    def __init__(self, channels=8, growth=4, layers=4):
        super().__init__()
        self.layers = nn.ModuleList([ListDenseLayer(channels + i * growth, growth) for i in range(layers)])

    def forward(self, x):
        features = [x]
        for layer in self.layers:
            features.append(layer(features))
        return torch.cat(features, 1)


class IdentityShortcutBlock(nn.Module):
    """A user's block whose shortcut and norm are ``nn.Identity`` (``norm="none"``, no projection needed)."""

    def __init__(self, channels=4):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn = nn.Identity()
        self.shortcut = nn.Identity()

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x))) + self.shortcut(x)


class IdentityShortcutStack(nn.Module):
    """Two identity-shortcut blocks, then an Identity as the model's last layer."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(IdentityShortcutBlock(), IdentityShortcutBlock())
        self.head = nn.Conv2d(4, 2, 1)
        self.last = nn.Identity()

    def forward(self, x):
        return self.last(self.head(self.blocks(x)))


class InPlaceThroughIdentity(nn.Module):
    """An in-place add on an Identity's output changes its input too: they are one tensor."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)
        self.keep = nn.Identity()
        self.act = nn.ReLU()

    def forward(self, x):
        h = self.fc(x)
        kept = self.keep(h)
        kept.add_(x)
        return self.act(h)
