"""The experiment demo in examples/experiment/: a small CNN pretrained on a
synthetic source task, and a small target dataset on which transfer helps.

Source task: 8 kinds of shape (disc, square, triangle, plus, ring, diamond,
horizontal bar, vertical bar), drawn in random colours, sizes and places on
noisy backgrounds. The network learns edges, corners and curvature.

Target task: 5 new kinds of shape (pentagon, star, hexagon outline, X,
half-disc) on the same kind of background, 64 images each. Features from
the source task tell them apart partly; retraining the last stage on them
does better, and training from scratch on 256 images does worse.

Writes examples/experiment/shapes_cnn.onnx (exported with PyTorch's
parameter names, BatchNorm in eval), the same network and weights as
TorchScript (shapes_cnn.pt, for the PyTorch backend) and
examples/experiment/data/<class>/NNN.png.
Images are 32x32 PNGs, normalised at load time with ImageNet's mean and std
(the engine's default), as the pretraining here normalises them.

    OMP_NUM_THREADS=2 /usr/bin/python3 scripts/gen-demo.py [--check]

--check also trains the target strategies in PyTorch and prints their accuracies.
"""

import math
import os
import shutil
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image, ImageDraw

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "examples", "experiment")
SIZE = 32
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

SOURCE = ["disc", "square", "triangle", "plus", "ring", "diamond", "hbar", "vbar"]
TARGET = ["pentagon", "star", "hexagon_outline", "x_cross", "half_disc"]


def polygon(cx, cy, r, n, rot, inner=None):
    pts = []
    for k in range(n * (2 if inner else 1)):
        rr = inner * r if inner and k % 2 else r
        a = rot + math.pi * 2 * k / (n * (2 if inner else 1))
        pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    return pts


def draw(kind, rng):
    bg = rng.integers(0, 90, size=3)
    img = Image.new("RGB", (SIZE, SIZE), tuple(int(v) for v in bg))
    d = ImageDraw.Draw(img)
    colour = tuple(int(v) for v in rng.integers(120, 256, size=3))
    r = rng.uniform(6, 11)
    cx, cy = rng.uniform(r + 1, SIZE - r - 1, size=2)
    rot = rng.uniform(0, 2 * math.pi)
    w = int(rng.integers(2, 4))
    box = [cx - r, cy - r, cx + r, cy + r]
    if kind == "disc":
        d.ellipse(box, fill=colour)
    elif kind == "square":
        d.polygon(polygon(cx, cy, r * 1.2, 4, rot), fill=colour)
    elif kind == "triangle":
        d.polygon(polygon(cx, cy, r * 1.2, 3, rot), fill=colour)
    elif kind == "plus":
        d.rectangle([cx - r, cy - w, cx + r, cy + w], fill=colour)
        d.rectangle([cx - w, cy - r, cx + w, cy + r], fill=colour)
    elif kind == "ring":
        d.ellipse(box, outline=colour, width=w)
    elif kind == "diamond":
        d.polygon(polygon(cx, cy, r * 1.2, 4, math.pi / 4 + rng.uniform(-0.2, 0.2)), fill=colour)
    elif kind == "hbar":
        d.rectangle([cx - r, cy - w, cx + r, cy + w], fill=colour)
    elif kind == "vbar":
        d.rectangle([cx - w, cy - r, cx + w, cy + r], fill=colour)
    elif kind == "pentagon":
        d.polygon(polygon(cx, cy, r * 1.15, 5, rot), fill=colour)
    elif kind == "star":
        d.polygon(polygon(cx, cy, r * 1.25, 5, rot, inner=0.45), fill=colour)
    elif kind == "hexagon":
        d.polygon(polygon(cx, cy, r * 1.1, 6, rot), fill=colour)
    elif kind == "pentagon_outline":
        d.polygon(polygon(cx, cy, r * 1.15, 5, rot), outline=colour, width=w)
    elif kind == "hexagon_outline":
        d.polygon(polygon(cx, cy, r * 1.1, 6, rot), outline=colour, width=w)
    elif kind == "x_cross":
        for a in (rot, rot + math.pi / 2):
            dx, dy = r * math.cos(a), r * math.sin(a)
            d.line([cx - dx, cy - dy, cx + dx, cy + dy], fill=colour, width=w + 1)
    elif kind == "half_disc":
        d.pieslice(box, math.degrees(rot), math.degrees(rot) + 180, fill=colour)
    arr = np.asarray(img, dtype=np.int16) + rng.integers(-25, 26, size=(SIZE, SIZE, 3))
    return np.clip(arr, 0, 255).astype(np.uint8)


def dataset(kinds, per_class, seed):
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label, kind in enumerate(kinds):
        for _ in range(per_class):
            images.append(draw(kind, rng))
            labels.append(label)
    return np.stack(images), np.array(labels)


def to_tensor(images):
    x = torch.from_numpy(images).float().permute(0, 3, 1, 2) / 255.0
    return (x - MEAN) / STD


def block(cin, cout, stride):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
        nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
    )


class ShapesCNN(nn.Module):
    """A ResNet-like layout without the skips: stem, three stages, pooled head."""

    def __init__(self, num_classes):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.layer1 = block(16, 24, 2)
        self.layer2 = block(24, 48, 2)
        self.layer3 = block(48, 64, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def train(model, x, y, epochs, lr, params=None, batch=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(params if params is not None else model.parameters(), lr=lr, weight_decay=0.01)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(y), generator=g).split(batch):
            if len(idx) < 2:
                continue
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def pretrain():
    torch.manual_seed(0)
    images, labels = dataset(SOURCE, 600, seed=1)
    x, y = to_tensor(images), torch.from_numpy(labels)
    model = ShapesCNN(len(SOURCE))
    train(model, x, y, epochs=8, lr=3e-3)
    vi, vl = dataset(SOURCE, 50, seed=2)
    print(f"source task: {accuracy(model, to_tensor(vi), torch.from_numpy(vl)):.3f} held-out accuracy")
    # The new task's head: the pretrained network with a fresh, seeded classifier.
    model.fc = nn.Linear(64, len(TARGET))
    return model.eval()


def export(model):
    path = os.path.join(OUT, "shapes_cnn.onnx")
    torch.onnx.export(
        model, torch.randn(1, 3, SIZE, SIZE), path, training=torch.onnx.TrainingMode.PRESERVE, opset_version=14,
        do_constant_folding=False, input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )
    print(f"{os.path.relpath(path)}: {os.path.getsize(path) // 1024} kB")
    # The same network and weights as TorchScript, for the PyTorch backend (`--backend torch`).
    script = os.path.join(OUT, "shapes_cnn.pt")
    torch.jit.script(model).save(script)
    print(f"{os.path.relpath(script)}: {os.path.getsize(script) // 1024} kB")


def write_target():
    images, labels = dataset(TARGET, 80, seed=3)
    root = os.path.join(OUT, "data")
    shutil.rmtree(root, ignore_errors=True)
    for kind in TARGET:
        os.makedirs(os.path.join(root, kind))
    counts = {}
    for img, label in zip(images, labels):
        kind = TARGET[label]
        counts[kind] = counts.get(kind, 0) + 1
        Image.fromarray(img).save(os.path.join(root, kind, f"{counts[kind]:03d}.png"), optimize=True)
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(root) for f in fs)
    print(f"{os.path.relpath(root)}: {len(labels)} images, {total // 1024} kB")
    return images, labels


def check(pretrained, images, labels):
    """The demo's strategies in PyTorch: the ordering the engine should show too."""
    import copy

    x, y = to_tensor(images), torch.from_numpy(labels)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(5))
    tr, va = perm[: int(0.8 * len(y))], perm[int(0.8 * len(y)):]
    for name, trainable in [("linear-probe", ["fc"]), ("freeze-to:layer2", ["layer3", "fc"]), ("full", None), ("scratch", None)]:
        accs = []
        for seed in range(3):
            m = ShapesCNN(len(TARGET)) if name == "scratch" else copy.deepcopy(pretrained)
            if trainable is not None:
                for n, p in m.named_parameters():
                    p.requires_grad = n.split(".")[0] in trainable
            frozen_bn = [mod for n, mod in m.named_modules() if isinstance(mod, nn.BatchNorm2d) and trainable is not None and n.split(".")[0] not in trainable]
            torch.manual_seed(seed)
            params = [p for p in m.parameters() if p.requires_grad]
            g = torch.Generator().manual_seed(seed)
            opt = torch.optim.AdamW(params, lr=3e-3, weight_decay=0.01)
            for _ in range(4):  # the demo's epochs
                m.train()
                for bn in frozen_bn:
                    bn.eval()
                for idx in tr[torch.randperm(len(tr), generator=g)].split(32):
                    opt.zero_grad()
                    F.cross_entropy(m(x[idx]), y[idx]).backward()
                    opt.step()
            accs.append(accuracy(m, x[va], y[va]))
        print(f"{name:18s} val acc {np.mean(accs):.3f} ({', '.join(f'{a:.2f}' for a in accs)})")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    model = pretrain()
    export(model)
    images, labels = write_target()
    if "--check" in sys.argv:
        check(model, images, labels)
