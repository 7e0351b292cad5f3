import pytest
import torch
from torch import nn

from resviz.models import get_model


def tiny_resnet(**options) -> nn.Module:
    """ResNet-8 at width 4 on 16x16 inputs: the zoo's layout, small enough for fast tests."""
    return get_model("resnet20", depth=8, width=4, input_size=16, num_classes=6, **options).eval()


@pytest.fixture
def model():
    torch.manual_seed(0)
    return tiny_resnet()


@pytest.fixture
def inputs():
    return torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))


def no_hooks_left(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
               for m in model.modules())
