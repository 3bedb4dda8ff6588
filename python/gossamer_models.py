"""PyTorch modules matching Gossamer's C++ models (src/models/), name for name and op for op.

A state_dict of these modules has exactly the keys and shapes that Gossamer writes (RUN/model.pt,
checkpoint["model"]) and reads (train.init_from), so

    model = gossamer_models.build("lenet5")
    model.load_state_dict(torch.load("RUN/model.pt"))

works with strict=True. The forward passes repeat the C++ ones: padding, pooling, ReLU placement,
flatten order and batch norm (eps 1e-5, momentum 0.1, PyTorch's defaults, as LibTorch's).
Inputs are [batch, channels, height, width] images normalised as Gossamer does (see evaluate.py).
"""

import torch
from torch import nn
import torch.nn.functional as F


class MLP(nn.Module):
    """Fully connected ReLU network: in_features -> hidden... -> num_classes (fc1, fc2, ...)."""

    def __init__(self, in_features, hidden=(300, 100), num_classes=10):
        super().__init__()
        widths = [in_features, *hidden, num_classes]
        self.depth = len(widths) - 1
        for i in range(self.depth):
            setattr(self, f"fc{i + 1}", nn.Linear(widths[i], widths[i + 1]))

    def forward(self, x):
        x = x.flatten(1)
        for i in range(1, self.depth):
            x = F.relu(getattr(self, f"fc{i}")(x))
        return getattr(self, f"fc{self.depth}")(x)


class LeNet5(nn.Module):
    """conv 6@5x5 (pad 2) -> ReLU -> max pool 2 -> conv 16@5x5 -> ReLU -> max pool 2 -> 120 -> 84 -> classes."""

    def __init__(self, in_channels=1, image_size=28, num_classes=10):
        super().__init__()
        after = ((image_size // 2) - 4) // 2
        if after < 1:
            raise ValueError(f"lenet5: input images of {image_size} pixels are too small (need at least 12)")
        self.conv1 = nn.Conv2d(in_channels, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * after * after, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class BasicBlock(nn.Module):
    """Two 3x3 convs with batch norm; a 1x1 projection ("shortcut", "shortcut_bn") when the shape changes."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        if stride != 1 or cin != cout:
            self.shortcut = nn.Conv2d(cin, cout, 1, stride=stride, bias=False)
            self.shortcut_bn = nn.BatchNorm2d(cout)
        else:
            self.shortcut = None

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = self.shortcut_bn(self.shortcut(x)) if self.shortcut is not None else x
        return F.relu(y + s)


class ResNet20(nn.Module):
    """ResNet-20 (CIFAR variant): 3 stages x 3 blocks, widths w, 2w, 4w; blocks named layer1_0 .. layer3_2."""

    def __init__(self, in_channels=1, num_classes=10, width=16):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.block_names = []
        cin = width
        for stage in range(3):
            cout = width << stage
            for b in range(3):
                name = f"layer{stage + 1}_{b}"
                setattr(self, name, BasicBlock(cin, cout, 2 if stage > 0 and b == 0 else 1))
                self.block_names.append(name)
                cin = cout
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        for name in self.block_names:
            x = getattr(self, name)(x)
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def build(name, input_shape=(1, 28, 28), num_classes=10, hidden=(300, 100), width=16):
    """The model Gossamer builds for config [model] name / hidden / width (defaults as Gossamer's)."""
    if name == "mlp":
        in_features = 1
        for d in input_shape:
            in_features *= d
        return MLP(in_features, tuple(hidden), num_classes)
    if name == "lenet5":
        return LeNet5(input_shape[0], input_shape[1], num_classes)
    if name == "resnet20":
        return ResNet20(input_shape[0], num_classes, width)
    raise ValueError(f"unknown model '{name}': choose one of mlp, lenet5, resnet20")


def state_dict_of(obj):
    """The model weights in what torch.load gave: a Gossamer checkpoint's ["model"], else the dict itself."""
    if isinstance(obj, dict) and obj.get("format") == "gossamer-checkpoint":
        return obj["model"]
    return obj
