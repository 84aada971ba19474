"""Optimizer steps of the tiny fixture CNN in PyTorch, from given weights.

    python3 train_step.py CASE.json OUT.json

CASE.json: {"weights": {name: [dims, values]}, "frozen": [module prefixes],
"lr": {param: lr}, "optimizer": {"type", "momentum", "weightDecay"},
"x": [values], "shape": [dims], "y": [labels], "steps": 2 by default,
"unfreeze": {"after": step, "modules": [prefixes]} for gradual unfreezing,
where those modules' parameters join the optimizer as new param groups
(add_param_group) after that step}. Frozen parameters do not
require grad and frozen BatchNorm runs in eval mode (the eval BN policy);
the rest trains in train mode. OUT.json: {"losses": [...], "gradMax": {param:
largest |grad| over the steps}, "state": {name: values}}.
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

# The fixture's architecture, as scripts/gen-onnx-fixtures.py exported it.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from fixture_models import TinyCNN  # noqa: E402


def main():
    case = json.load(open(sys.argv[1]))
    model = TinyCNN()
    state = model.state_dict()
    for name, (dims, values) in case["weights"].items():
        state[name] = torch.tensor(values, dtype=torch.float32).reshape(dims)
    model.load_state_dict(state)
    frozen = list(case["frozen"])
    under = lambda name: any(name == f or name.startswith(f + ".") for f in frozen)
    for name, p in model.named_parameters():
        p.requires_grad_(not under(name))
    lr = case["lr"]
    groups = [{"params": [p], "lr": lr[n]} for n, p in model.named_parameters() if p.requires_grad]
    o = case["optimizer"]
    if o["type"] == "sgd":
        opt = torch.optim.SGD(groups, lr=0.1, momentum=o.get("momentum", 0), weight_decay=o.get("weightDecay", 0))
    else:
        opt = torch.optim.AdamW(groups, lr=1e-3, weight_decay=o.get("weightDecay", 0))
    x = torch.tensor(case["x"], dtype=torch.float32).reshape(case["shape"])
    y = torch.tensor(case["y"])
    losses = []
    grad_max = {}
    unfreeze = case.get("unfreeze")
    for step in range(case.get("steps", 2)):
        if unfreeze and step == unfreeze["after"]:
            frozen = [f for f in frozen if f not in unfreeze["modules"]]
            for n, p in model.named_parameters():
                if not p.requires_grad and not under(n):
                    p.requires_grad_(True)
                    opt.add_param_group({"params": [p], "lr": lr[n]})
        model.train()
        # The export has no Dropout node (eval-mode export): the step under test has none either.
        model.dropout.eval()
        for name, m in model.named_modules():
            if isinstance(m, nn.BatchNorm2d) and under(name):
                m.eval()
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        for n, p in model.named_parameters():
            if p.grad is not None:
                grad_max[n] = max(grad_max.get(n, 0.0), p.grad.abs().max().item())
        opt.step()
        losses.append(loss.item())
    out = {"losses": losses, "gradMax": grad_max, "state": {k: v.flatten().tolist() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}}
    json.dump(out, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
