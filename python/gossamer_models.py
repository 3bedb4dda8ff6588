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


class SelfAttention(nn.Module):
    """Multi-head self-attention: one fused projection "qkv" ([3 dim, dim]: q rows, then k, then v) and "proj"."""

    def __init__(self, dim, heads):
        super().__init__()
        if dim % heads != 0:
            raise ValueError(f"model.dim = {dim} is not divisible by model.heads = {heads}")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, last_query_only=False):
        b, t, d = x.shape
        qkv = self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if last_query_only:
            q = q[:, :, -1:]
        attn = torch.softmax(q @ k.transpose(-2, -1) / (d // self.heads) ** 0.5, dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, q.shape[2], d))


class EncoderBlock(nn.Module):
    """Pre-norm block (LayerNorm eps 1e-6): x + attn(norm1 x), then + feed-forward(norm2 .).

    leff_side = 0: an MLP "fc1" -> GELU -> "fc2". Otherwise CeiT's locally-enhanced feed-forward on
    a class token and a leff_side x leff_side grid of tokens: "up" -> "bn_up" -> GELU, the grid
    through the depthwise 3x3 "dw" -> "bn_dw" -> GELU, then "down" -> "bn_down"; the class token
    passes around it.
    """

    def __init__(self, dim, heads, hidden, leff_side=0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = SelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.side = leff_side
        if leff_side == 0:
            self.fc1 = nn.Linear(dim, hidden)
            self.fc2 = nn.Linear(hidden, dim)
        else:
            self.up = nn.Linear(dim, hidden)
            self.bn_up = nn.BatchNorm1d(hidden)
            self.dw = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
            self.bn_dw = nn.BatchNorm2d(hidden)
            self.down = nn.Linear(hidden, dim)
            self.bn_down = nn.BatchNorm1d(dim)

    def feed_forward(self, x):
        if self.side == 0:
            return self.fc2(F.gelu(self.fc1(x)))
        b, t, d = x.shape
        cls, grid = x[:, :1], x[:, 1:].reshape(b * (t - 1), d)
        h = F.gelu(self.bn_up(self.up(grid)))
        g = h.reshape(b, t - 1, -1).transpose(1, 2).reshape(b, -1, self.side, self.side)
        g = F.gelu(self.bn_dw(self.dw(g)))
        h = g.flatten(2).transpose(1, 2).reshape(b * (t - 1), -1)
        return torch.cat([cls, self.bn_down(self.down(h)).reshape(b, t - 1, d)], dim=1)

    def forward(self, x, last_only=False):
        if last_only:
            y = x[:, -1:] + self.attn(self.norm1(x), last_query_only=True)
        else:
            y = x + self.attn(self.norm1(x))
        return y + self.feed_forward(self.norm2(y))


def _check_transformer_sizes(name, dim, depth, heads, mlp_ratio, patch, stem_channels):
    for key, value in (("dim", dim), ("depth", depth), ("heads", heads), ("mlp_ratio", mlp_ratio),
                       ("patch", patch), ("stem_channels", stem_channels)):
        if value < 1:
            raise ValueError(f"{name}: model.{key} = {value} must be at least 1")


class ViT(nn.Module):
    """Patches by the conv "patch_embed", "cls_token", "pos_embed", blocks block0.., "norm", "head" on the class token."""

    def __init__(self, in_channels=1, image_size=28, num_classes=10, dim=64, depth=4, heads=4, mlp_ratio=2, patch=4,
                 stem_channels=32):
        super().__init__()
        _check_transformer_sizes("vit", dim, depth, heads, mlp_ratio, patch, stem_channels)
        if image_size % patch != 0:
            raise ValueError(f"vit: model.patch = {patch} does not divide the {image_size}-pixel image side")
        grid = image_size // patch
        self.patch_embed = nn.Conv2d(in_channels, dim, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, dim))
        self.depth = depth
        for b in range(depth):
            setattr(self, f"block{b}", EncoderBlock(dim, heads, dim * mlp_ratio))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for b in range(self.depth):
            x = getattr(self, f"block{b}")(x)
        return self.head(self.norm(x[:, 0]))


class CeiT(nn.Module):
    """Image-to-Tokens stem ("i2t_conv" 7x7/2, "i2t_bn", max pool 3x3/2), patches of patch/4, LeFF blocks,
    then the class tokens of all blocks (+ "pos_layer_embed") through "lca", where only the last one queries."""

    def __init__(self, in_channels=1, image_size=28, num_classes=10, dim=64, depth=4, heads=4, mlp_ratio=2, patch=4,
                 stem_channels=32):
        super().__init__()
        _check_transformer_sizes("ceit", dim, depth, heads, mlp_ratio, patch, stem_channels)
        feature = ((image_size + 1) // 2 + 1) // 2
        if patch % 4 != 0 or feature % (patch // 4) != 0:
            raise ValueError(f"ceit: model.patch = {patch} does not fit: it must be 4 times a divisor of {feature}")
        fp = patch // 4
        self.grid = feature // fp
        self.i2t_conv = nn.Conv2d(in_channels, stem_channels, 7, stride=2, padding=3, bias=False)
        self.i2t_bn = nn.BatchNorm2d(stem_channels)
        self.patch_embed = nn.Conv2d(stem_channels, dim, fp, stride=fp)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.grid * self.grid + 1, dim))
        self.depth = depth
        for b in range(depth):
            setattr(self, f"block{b}", EncoderBlock(dim, heads, dim * mlp_ratio, leff_side=self.grid))
        self.pos_layer_embed = nn.Parameter(torch.zeros(1, depth, dim))
        self.lca = EncoderBlock(dim, heads, dim * mlp_ratio)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        f = F.max_pool2d(self.i2t_bn(self.i2t_conv(x)), 3, 2, 1)
        x = self.patch_embed(f).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        class_tokens = []
        for b in range(self.depth):
            x = getattr(self, f"block{b}")(x)
            class_tokens.append(x[:, 0])
        last = self.lca(torch.stack(class_tokens, dim=1) + self.pos_layer_embed, last_only=True)[:, 0]
        return self.head(self.norm(last))


TRANSFORMER_KEYS = ("dim", "depth", "heads", "mlp_ratio", "patch", "stem_channels")


def build(name, input_shape=(1, 28, 28), num_classes=10, hidden=(300, 100), width=16, **transformer):
    """The model Gossamer builds for config [model] name / hidden / width (defaults as Gossamer's);
    vit and ceit take the [model] keys dim, depth, heads, mlp_ratio, patch and stem_channels."""
    unknown = set(transformer) - set(TRANSFORMER_KEYS)
    if unknown:
        raise ValueError(f"unknown model keys {sorted(unknown)}: the transformers take {', '.join(TRANSFORMER_KEYS)}")
    if name in ("vit", "ceit"):
        cls = ViT if name == "vit" else CeiT
        return cls(input_shape[0], input_shape[1], num_classes, **transformer)
    if name == "mlp":
        in_features = 1
        for d in input_shape:
            in_features *= d
        return MLP(in_features, tuple(hidden), num_classes)
    if name == "lenet5":
        return LeNet5(input_shape[0], input_shape[1], num_classes)
    if name == "resnet20":
        return ResNet20(input_shape[0], num_classes, width)
    raise ValueError(f"unknown model '{name}': choose one of mlp, lenet5, resnet20, vit, ceit")


def state_dict_of(obj):
    """The model weights in what torch.load gave: a Gossamer checkpoint's ["model"], else the dict itself."""
    if isinstance(obj, dict) and obj.get("format") == "gossamer-checkpoint":
        return obj["model"]
    return obj
