"""FreezeLens's PyTorch experiment runner: freeze plans trained on the user's
model, in the user's PyTorch, on their GPU where there is one.

Started by FreezeLens (server/src/experiment/torch.ts) with the user's
interpreter; it speaks JSON lines on stdin and stdout:

  FreezeLens -> runner                     runner -> FreezeLens
  {"type": "hello", "protocol": 1}         {"type": "hello", "protocol": 1, "torch": ..., "device": ...}
  {"type": "load", "model": ..., ...}      {"type": "model", "tree": ..., "dataset": ...}
  {"type": "run", "strategies": [...]}     start, step, epoch, end and error events, then {"type": "finished"}

FreezeLens computes each strategy's plan from the module tree the runner
reports (the planner's code, in one place); the runner applies it by module
path, as the planner's generated code does: requires_grad per parameter,
frozen BatchNorm in eval unless the strategy trains it, one param group per
learning rate, and for gradual unfreezing new param groups as stages
unfreeze.

SIGINT (or a {"type": "cancel"} line) stops the run after the step in
progress; the runner then frees the model and the GPU memory and exits 0.

Depends on torch (>= 1.13) only, and torchvision for ImageFolder and
catalog models. Needs no network.
"""

import copy
import importlib
import json
import math
import os
import random
import signal
import sys
import threading
import time

PROTOCOL = 1
MIN_TORCH = (1, 13)

_out = sys.stdout
_cancel = threading.Event()


def send(obj):
    _out.write(json.dumps(obj) + "\n")
    _out.flush()


class RunnerError(Exception):
    """A message for the user: what is wrong and what to do."""


def fail(message):
    send({"type": "error", "strategy": None, "message": message})
    send({"type": "finished"})
    sys.exit(0)


try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # the runner's first line of output says why it cannot start
    send({"type": "hello", "protocol": PROTOCOL, "error": f"PyTorch is not installed for {sys.executable} ({e}); install it with `{sys.executable} -m pip install torch`, or choose another interpreter with freezelens.pythonPath / --python"})
    sys.exit(0)


def torch_version():
    parts = torch.__version__.split("+")[0].split(".")
    return tuple(int("".join(ch for ch in p if ch.isdigit()) or 0) for p in parts[:2])


def pick_device(requested):
    if requested in (None, "auto"):
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise RunnerError(f"--device cuda: torch {torch.__version__} at {sys.executable} sees no CUDA GPU (torch.cuda.is_available() is False); install a CUDA build of torch, or use --device cpu")
    if requested == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise RunnerError("--device mps: this torch has no MPS device; use --device cpu")
    return requested


# ---------------------------------------------------------------------------
# Models and data


def import_factory(spec, what):
    """`package.module:function`, imported from the workspace (the working directory)."""
    if ":" not in spec:
        raise RunnerError(f"the {what} factory '{spec}' must look like package.module:function")
    module_name, fn_name = spec.split(":", 1)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as e:
        raise RunnerError(f"the {what} factory '{spec}': importing {module_name} failed: {type(e).__name__}: {e}")
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise RunnerError(f"the {what} factory '{spec}': {module_name} has no function {fn_name}")
    try:
        return fn()
    except Exception as e:
        raise RunnerError(f"the {what} factory '{spec}' raised {type(e).__name__}: {e}")


def last_linear(model):
    found = None
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            found = (name, m)
    return found


def set_submodule(model, path, module):
    parent, _, leaf = path.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)


def catalog_model(name, num_classes, random_weights):
    try:
        import torchvision
    except ImportError:
        raise RunnerError(f"catalog models need torchvision: `{sys.executable} -m pip install torchvision`")
    if not hasattr(torchvision.models, "get_model_weights"):
        raise RunnerError(f"torchvision {torchvision.__version__} is too old for catalog models (0.14 or later)")
    try:
        weights = torchvision.models.get_model_weights(name).DEFAULT
    except Exception:
        raise RunnerError(f"'{name}' is not a torchvision model")
    notes = []
    if random_weights:
        model = torchvision.models.get_model(name, weights=None)
        notes.append(f"{name} with random weights (asked for): the comparison shows speed and memory, not what pretraining buys")
    else:
        cached = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))
        if not os.path.exists(cached):
            raise RunnerError(f"no pretrained weights for {name} in the torch hub cache ({cached}); without them the comparison is meaningless. Download them once, e.g. `{sys.executable} -c \"import torchvision; torchvision.models.get_model('{name}', weights='DEFAULT')\"`, or pass --random-weights to measure speed only")
        model = torchvision.models.get_model(name, weights=weights)
    head = last_linear(model)
    if head is not None and head[1].out_features != num_classes:
        set_submodule(model, head[0], nn.Linear(head[1].in_features, num_classes))
        notes.append(f"{head[0]} replaced by a fresh {num_classes}-class Linear")
    return model, notes


def build_model(spec, num_classes):
    kind = spec.get("kind")
    if kind == "factory":
        model = import_factory(spec["factory"], "model")
        if not isinstance(model, nn.Module):
            raise RunnerError(f"the model factory '{spec['factory']}' returned {type(model).__name__}, not an nn.Module")
        return model, []
    if kind == "catalog":
        return catalog_model(spec["name"], num_classes, spec.get("randomWeights", False))
    if kind == "torchscript":
        try:
            return torch.jit.load(spec["path"], map_location="cpu"), []
        except Exception as e:
            raise RunnerError(f"{spec['path']}: not a TorchScript file torch.jit.load can read ({type(e).__name__}: {e})")
    raise RunnerError(f"unknown model kind {kind!r}")


def split(n, fraction, seed):
    order = list(range(n))
    random.Random(seed).shuffle(order)
    k = min(n - 1, max(1, round(n * fraction)))
    return order[k:], order[:k]


def build_data(spec, seed, val_split):
    kind = spec.get("kind")
    if kind == "factory":
        pair = import_factory(spec["factory"], "data")
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise RunnerError(f"the data factory '{spec['factory']}' must return (train_dataset, val_dataset)")
        train, val = pair
        classes = getattr(train, "classes", None)
        return train, val, classes
    if kind == "image-folder":
        try:
            import torchvision.transforms as T
            from torchvision.datasets import ImageFolder
        except ImportError:
            raise RunnerError(f"an image folder needs torchvision: `{sys.executable} -m pip install torchvision`")
        size = spec.get("size", [224, 224])
        tf = T.Compose([T.Resize(size), T.ToTensor(), T.Normalize(spec.get("mean", [0.485, 0.456, 0.406]), spec.get("std", [0.229, 0.224, 0.225]))])
        try:
            full = ImageFolder(spec["path"], transform=tf)
        except Exception as e:
            raise RunnerError(f"{spec['path']}: {e}")
        if len(full.classes) < 2:
            raise RunnerError(f"{spec['path']}: one class only ({full.classes[0]}); a classifier needs two or more")
        train_idx, val_idx = split(len(full), val_split, seed)
        return torch.utils.data.Subset(full, train_idx), torch.utils.data.Subset(full, val_idx), full.classes
    raise RunnerError(f"unknown data kind {kind!r}")


def module_tree(model):
    """The module tree in FreezeLens's format: own (recurse=False) parameter and buffer counts per module."""
    nodes = {}
    root = None
    for path, m in model.named_modules():
        node = {
            "path": path,
            "class": getattr(m, "original_name", None) or type(m).__name__,
            "params": sum(p.numel() for p in m.parameters(recurse=False)),
            "buffers": sum(b.numel() for n, b in m.named_buffers(recurse=False) if not n.endswith("num_batches_tracked")),
            "children": [],
        }
        if isinstance(m, nn.modules.batchnorm._BatchNorm) or node["class"].startswith("BatchNorm"):
            node["batchNorm"] = True
        nodes[path] = node
        if path == "":
            root = node
        else:
            parent = path.rpartition(".")[0]
            nodes[parent]["children"].append(node)
    return root


# ---------------------------------------------------------------------------
# Training


def under(name, paths):
    return any(name == p or name.startswith(p + ".") for p in paths)


def batchnorm_modules(model):
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) or (getattr(m, "original_name", "") or "").startswith("BatchNorm")]


def rss_mb():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Cancelled(Exception):
    pass


def run_strategy(s, ctx):
    """One strategy from the initial weights: s = {name, frozen, bnTrain, lrs: {module path: lr}, unfreeze: [{epoch, paths}]}."""
    model, device = ctx["model"], ctx["device"]
    model.load_state_dict(ctx["initial"])
    torch.manual_seed(ctx["seed"])
    frozen = list(s["frozen"])
    bn = batchnorm_modules(model)
    bn_params = {f"{n}.{pn}" if n else pn for n, m in bn for pn, _ in m.named_parameters(recurse=False)}

    def trains(name):
        return not under(name, frozen) or (s["bnTrain"] and name in bn_params)

    params = dict(model.named_parameters())
    lrs = {n: s["lrs"].get(n.rpartition(".")[0]) for n in params}
    missing = [n for n in params if lrs[n] is None]
    if missing:
        raise RunnerError(f"no learning rate for {', '.join(missing[:3])}")
    for n, p in params.items():
        p.requires_grad_(trains(n))

    def groups(names):
        by_lr = {}
        for n in names:
            by_lr.setdefault(lrs[n], []).append(params[n])
        return [{"params": ps, "lr": lr} for lr, ps in by_lr.items()]

    o = ctx["optimizer"]
    first = groups([n for n in params if trains(n)])
    if o["type"] == "sgd":
        opt = torch.optim.SGD(first, lr=first[0]["lr"], momentum=o.get("momentum", 0.9), weight_decay=o.get("weightDecay", 0.0))
    else:
        opt = torch.optim.AdamW(first, lr=first[0]["lr"], weight_decay=o.get("weightDecay", 0.01))
    amp = ctx["amp"]
    scaler = torch.cuda.amp.GradScaler() if amp == "fp16" and device == "cuda" else None
    cuda = device == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        torch.cuda.synchronize()
    g = torch.Generator().manual_seed(ctx["seed"])
    loader = torch.utils.data.DataLoader(ctx["train"], batch_size=ctx["batch"], shuffle=True, generator=g, num_workers=ctx["workers"], drop_last=False)
    val_loader = torch.utils.data.DataLoader(ctx["val"], batch_size=256, shuffle=False, num_workers=ctx["workers"])
    started = time.perf_counter()
    peak_rss = rss_mb()
    step_no = 0
    best = 0.0
    last = 0.0
    samples = 0
    for epoch in range(ctx["epochs"]):
        for u in s.get("unfreeze", []):
            if u["epoch"] == epoch:
                frozen = [f for f in frozen if not any(f == p or f.startswith(p + ".") for p in u["paths"])]
                added = [n for n in params if trains(n) and not params[n].requires_grad]
                for n in added:
                    params[n].requires_grad_(True)
                for group in groups(added):
                    opt.add_param_group(group)
        t0 = time.perf_counter()
        model.train()
        if not s["bnTrain"]:
            for n, m in bn:
                if under(n, frozen):
                    m.eval()  # frozen BatchNorm keeps its running statistics (the eval policy)
        loss_sum, batches = 0.0, 0
        for x, y in loader:
            if ctx["steps"] is not None and step_no >= ctx["steps"]:
                break  # a budget in steps: the last epoch is partial, and evaluated where it stops
            if len(y) < 2:
                continue  # BatchNorm needs two samples
            s0 = time.perf_counter()
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device_type="cuda" if cuda else "cpu", dtype=torch.float16 if amp == "fp16" else torch.bfloat16, enabled=amp in ("fp16", "bf16")):
                loss = F.cross_entropy(model(x), y)
            if scaler:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            value = loss.item()  # synchronises with the GPU: the step's time is its own
            if not math.isfinite(value):
                raise RunnerError(f"the loss is {value} at step {step_no + 1}: training diverged (try a lower learning rate)")
            step_no += 1
            samples += len(y)
            loss_sum += value
            batches += 1
            send({"type": "step", "strategy": s["name"], "step": step_no, "loss": value, "ms": (time.perf_counter() - s0) * 1000})
            peak_rss = max(peak_rss, rss_mb())
            if _cancel.is_set():
                raise Cancelled()
        val_loss, acc = evaluate(model, val_loader, device)
        last, best = acc, max(best, acc)
        send({"type": "epoch", "strategy": s["name"], "epoch": epoch + 1, "trainLoss": loss_sum / max(1, batches), "valLoss": val_loss, "valAcc": acc, "msEpoch": (time.perf_counter() - t0) * 1000})
    elapsed = time.perf_counter() - started
    if ctx.get("stateDir"):
        # For FreezeLens's tests: the weights and statistics after training.
        with open(os.path.join(ctx["stateDir"], f"{s['name']}.json"), "w") as f:
            json.dump({k: v.detach().float().flatten().tolist() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}, f)
    send({
        "type": "end", "strategy": s["name"], "valAcc": last, "bestValAcc": best,
        "msPerEpoch": elapsed * 1000 / (ctx["epochs"] if ctx["steps"] is None else max(1, step_no) / max(1, steps_per_epoch(len(ctx["train"]), ctx["batch"]))),
        "samplesPerSec": samples / elapsed,
        "peakRssMB": peak_rss, "tensorMB": torch.cuda.max_memory_allocated() / 2**20 if cuda else 0.0,
        "trainableParams": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "totalParams": sum(p.numel() for p in model.parameters()), "backend": f"torch-{device}", "cached": False,
    })


def steps_per_epoch(samples, batch):
    """Optimizer steps in an epoch: batches, less a last batch of one (skipped: BatchNorm needs two samples). As stepsPerEpoch in request.ts."""
    if samples < 2:
        return samples
    return samples // batch + (1 if samples % batch >= 2 else 0)


def evaluate(model, loader, device):
    model.eval()
    total, correct, loss = 0, 0, 0.0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            out = model(x)
            loss += F.cross_entropy(out, y, reduction="sum").item()
            correct += (out.argmax(1) == y).sum().item()
            total += len(y)
    return loss / max(1, total), correct / max(1, total)


# ---------------------------------------------------------------------------
# The protocol


def read():
    line = sys.stdin.readline()
    if not line:
        sys.exit(0)  # FreezeLens went away
    return json.loads(line)


def main():
    signal.signal(signal.SIGINT, lambda *_: _cancel.set())
    hello = read()
    if hello.get("protocol") != PROTOCOL:
        send({"type": "hello", "protocol": PROTOCOL, "error": f"FreezeLens speaks protocol {hello.get('protocol')}, this runner {PROTOCOL}: the extension and its runner come from different versions"})
        return
    if torch_version() < MIN_TORCH:
        send({"type": "hello", "protocol": PROTOCOL, "error": f"torch {torch.__version__} at {sys.executable} is too old: FreezeLens needs 1.13 or later (`{sys.executable} -m pip install -U torch`)"})
        return
    send({"type": "hello", "protocol": PROTOCOL, "torch": torch.__version__, "python": sys.executable, "cuda": torch.cuda.is_available()})
    load = read()
    try:
        device = pick_device(load.get("device"))
        random.seed(load["seed"])
        torch.manual_seed(load["seed"])
        train, val, classes = build_data(load["data"], load["seed"], load["valSplit"])
        num_classes = len(classes) if classes else load.get("numClasses")
        model, notes = build_model(load["model"], num_classes)
        model.to(device)
        tree = module_tree(model)
        dataset = {"kind": load["data"]["kind"], "samples": len(train) + len(val), "classes": list(classes or []), "train": len(train), "val": len(val)}
    except RunnerError as e:
        fail(str(e))
    except Exception as e:  # the user's dataset or model misbehaving: say what raised, not a traceback
        fail(f"loading the model and data failed: {type(e).__name__}: {e}")
    send({"type": "model", "tree": tree, "device": device, "notes": notes, "dataset": dataset})
    run = read()
    if run.get("type") != "run":
        return
    ctx = {
        "model": model, "device": device, "initial": copy.deepcopy(model.state_dict()), "seed": load["seed"], "train": train, "val": val,
        "batch": run["batch"], "epochs": run["epochs"], "steps": run.get("steps"), "workers": run.get("workers", 0), "optimizer": run["optimizer"], "amp": run.get("amp"),
        "stateDir": run.get("stateDir"),
    }
    skipped = None
    for s in run["strategies"]:
        if skipped:
            send({"type": "error", "strategy": s["name"], "message": f"not run: {skipped}"})
            continue
        try:
            run_strategy(s, ctx)
        except Cancelled:
            send({"type": "error", "strategy": s["name"], "message": "cancelled"})
            skipped = "cancelled"
        except RunnerError as e:
            send({"type": "error", "strategy": s["name"], "message": str(e)})
        except RuntimeError as e:
            oom = "out of memory" in str(e)
            send({"type": "error", "strategy": s["name"], "message": f"{'the GPU ran out of memory (lower --batch, or try --amp bf16)' if oom else 'PyTorch raised'}: {str(e).splitlines()[0]}"})
            if device == "cuda":
                torch.cuda.empty_cache()
    # Free the model and the GPU before saying so.
    del ctx, model
    if device == "cuda":
        torch.cuda.empty_cache()
    send({"type": "finished"})


if __name__ == "__main__":
    main()
