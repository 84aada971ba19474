"""PyTorch's side of the experiment benchmark, on the demo CNN (scripts/gen-demo.py).

    python3 bench/torch_speed.py step|prefix THREADS BATCH REPEATS

step: a full fine-tune step (forward, cross-entropy, backward, AdamW) with
every parameter training, BatchNorm in train mode. prefix: the frozen
prefix of a linear probe (everything before the head) in eval mode without
gradients. Prints one JSON line: the milliseconds of each repeat.
"""
import importlib.util
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("gen_demo", os.path.join(HERE, "..", "scripts", "gen-demo.py"))
demo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(demo)

mode, threads, batch, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(0)
model = demo.ShapesCNN(5)
x = torch.randn(batch, 3, demo.SIZE, demo.SIZE)
y = torch.arange(batch) % 5

if mode == "step":
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    model.train()

    def run():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
else:
    backbone = torch.nn.Sequential(model.stem, model.layer1, model.layer2, model.layer3, model.pool).eval()

    def run():
        with torch.no_grad():
            backbone(x)

for _ in range(3):
    run()
times = []
for _ in range(repeats):
    t = time.perf_counter()
    run()
    times.append((time.perf_counter() - t) * 1000)
print(json.dumps({"threads": torch.get_num_threads(), "ms": times}))
