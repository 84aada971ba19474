"""Runs FreezeLens-generated freeze-plan code with real PyTorch.

    python3 plan_steps.py CASES.json OUT.json

CASES.json is a list of {"id", "setup", "code", "epochs", "classes", "input"}:
`setup` builds `model` (the script's own lines), `code` is the generated
snippet, pasted after it. Each case then trains for `epochs` epochs of one
optimizer step each on random data, calling `unfreeze_for_epoch(epoch)` at
each epoch start when the snippet defines it, exactly as its docstring says.

OUT.json maps each id to what happened, measured after the snippet ran
(FrozenBatchNorm2d swaps turn BN weights into buffers) and before training:
  params:  {name: {"changed", "requires_grad", "lr", "batchnorm", "numel", "trainable_at_start"}}
           (lr: of its param group at the end, or null)
  buffers: {name: {"changed", "batchnorm"}}
  groups:  the optimizer's param-group learning rates at the end
or {"error": traceback}.
"""
import json
import sys
import traceback

import torch
import torch.nn as nn
import torch.nn.functional as F


def run(case):
    torch.manual_seed(0)
    ns = {"__name__": "__freezelens_plan__"}
    exec(compile(case["setup"] + "\n" + case["code"], case["id"], "exec"), ns)
    model, optimizer = ns["model"], ns["optimizer"]
    bn_modules = {name for name, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) or type(m).__name__ == "FrozenBatchNorm2d"}
    owner = lambda name: name.rsplit(".", 1)[0] if "." in name else ""
    before_p = {n: p.detach().clone() for n, p in model.named_parameters()}
    before_b = {n: b.detach().clone() for n, b in model.named_buffers()}
    at_start = {n: p.requires_grad for n, p in model.named_parameters()}
    shape = case["input"]
    for epoch in range(case["epochs"]):
        if "unfreeze_for_epoch" in ns:
            ns["unfreeze_for_epoch"](epoch)
        model.train()
        x = torch.randn(*shape)
        y = torch.randint(0, case["classes"], (shape[0],))
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    lr_of = {}
    for g in optimizer.param_groups:
        for p in g["params"]:
            lr_of[id(p)] = g["lr"]
    params = {
        n: {
            "changed": not torch.equal(before_p[n], p.detach()),
            "requires_grad": p.requires_grad,
            "lr": lr_of.get(id(p)),
            "batchnorm": owner(n) in bn_modules,
            "numel": p.numel(),
            "trainable_at_start": at_start.get(n, False),
        }
        for n, p in model.named_parameters()
    }
    buffers = {
        n: {"changed": not torch.equal(before_b[n], b.detach()), "batchnorm": owner(n) in bn_modules}
        for n, b in model.named_buffers()
    }
    return {"params": params, "buffers": buffers, "groups": [g["lr"] for g in optimizer.param_groups]}


def main():
    cases = json.load(open(sys.argv[1]))
    out = {}
    for case in cases:
        try:
            out[case["id"]] = run(case)
        except Exception:
            out[case["id"]] = {"error": traceback.format_exc()}
    json.dump(out, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
