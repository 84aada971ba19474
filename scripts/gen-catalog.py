#!/usr/bin/python3
"""Generates FreezeLens's torchvision architecture catalog from torchvision itself.

Run (Debian's python3-torch / python3-torchvision, torch 1.13 / torchvision 0.14;
`sh scripts/oracle-setup.sh` installs them):

    OMP_NUM_THREADS=2 /usr/bin/python3 scripts/gen-catalog.py [output]

Writes server/data/torchvision-catalog.json (or the given path), which
server/src/models/catalog.ts reads. No network access is needed: pretrained
variants are built with the weight download and `load_state_dict` patched out,
and parameter initialisation is patched to no-ops while a model is built (only
structure and shapes are recorded). The output is deterministic: the same
torch/torchvision give the same bytes.

What is recorded, per architecture (every classification, detection,
segmentation and video builder torchvision registers; not the quantized or
optical-flow ones):
  - the module tree in `named_modules()` order: per module the attribute name,
    `type(m).__name__`, own parameters (name, numel) as
    `named_parameters(recurse=False)` yields them, own buffer numel, whether it
    is a BatchNorm tracking running stats, whether it applies dropout, and
    whether all its own parameters have requires_grad=False;
  - exact linear formulas numel = a * num_classes + b for every parameter whose
    size depends on `num_classes` (fitted on two builds, checked on a third;
    the default num_classes they imply must agree with the default build);
  - the tree a builder returns with `weights="DEFAULT"` when it differs from the
    `weights=None` one (googlenet drops its aux heads, inception_v3 keeps them;
    vit_h_14's default weights are for 518px images; detection builders use
    FrozenBatchNorm2d and freeze backbone layers; segmentation builders add the
    aux classifier), and for detection and segmentation builders the tree with
    only a pretrained backbone (`weights_backbone` at its default, or
    "DEFAULT" where that default is None);
  - the default weights' published `meta["num_params"]`.

Format (short keys): "s" is a string table; "n" a table of unique subtrees, each
[cls, params, buffers, flags, children, tied] with trailing empty entries left
off, where params is a flat [nameIdx, numel, ...] list, flags has bit 1 = running
stats, 2 = dropout, 4 = frozen, and children is a flat [nameIdx, nodeIdx, ...]
list (children come before their parents in the table); "m" maps each
architecture to {t: task, r: root, p: pretrained root, b: pretrained-backbone
root, c: default num_classes, k: num_classes of the default weights,
f: [[path, param, a, b], ...], bf: the same for the pretrained-backbone tree
where it differs, bd: present where the builder takes `weights_backbone`, 1
when its default is not None, n: published num_params, w: default weights name}.
"""
import contextlib
import gc
import gzip
import inspect
import json
import os
import sys
import time
import warnings

T0 = time.time()

import torch  # noqa: E402
import torchvision  # noqa: E402
from torchvision import models as M  # noqa: E402
from torchvision.models import _api  # noqa: E402
from torchvision.models.detection import _utils as det_utils  # noqa: E402
from torchvision.ops.stochastic_depth import StochasticDepth  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, 'server', 'data', 'torchvision-catalog.json')

GROUPS = [
    ('c', M),
    ('d', M.detection),
    ('s', M.segmentation),
    ('v', M.video),
]
# num_classes values for the formula fit (two) and its check (one).
FIT = (7, 13)
CHECK = 29

_MISSING = object()


@contextlib.contextmanager
def patched(target, name, value):
    old = target.__dict__.get(name, _MISSING) if isinstance(target, type) else getattr(target, name)
    setattr(target, name, value)
    try:
        yield
    finally:
        if old is _MISSING:
            delattr(target, name)
        else:
            setattr(target, name, old)


@contextlib.contextmanager
def cheap_construction():
    """In-place initialisers become no-ops: building vit_h_14 then only allocates."""
    with contextlib.ExitStack() as stack:
        for fn in sorted(dir(torch.nn.init)):
            if fn.endswith('_') and not fn.startswith('_') and callable(getattr(torch.nn.init, fn)):
                stack.enter_context(patched(torch.nn.init, fn, lambda tensor, *a, **k: tensor))
        for meth in ('normal_', 'uniform_'):
            stack.enter_context(patched(torch.Tensor, meth, lambda self, *a, **k: self))
        stack.enter_context(patched(det_utils, 'retrieve_out_channels', cached_out_channels))
        yield


_out_channels = {}
_retrieve_out_channels = det_utils.retrieve_out_channels


def cached_out_channels(model, size):
    """SSD builders run their backbone once to learn its output channels: once per backbone shape here."""
    key = (size, tuple((n, tuple(p.shape)) for n, p in model.named_parameters()), str(model))
    if key not in _out_channels:
        _out_channels[key] = _retrieve_out_channels(model, size)
    return list(_out_channels[key])


@contextlib.contextmanager
def no_weights():
    """Pretrained builders get an empty state dict and load nothing."""
    from torch.nn.modules.module import _IncompatibleKeys

    with patched(_api.WeightsEnum, 'get_state_dict', lambda self, *a, **k: {}), patched(
        torch.nn.Module, 'load_state_dict', lambda self, *a, **k: _IncompatibleKeys([], [])
    ):
        yield


def is_dropout(m):
    if isinstance(m, torch.nn.modules.dropout._DropoutNd):
        return m.p > 0
    if isinstance(m, StochasticDepth):
        return m.p > 0
    if isinstance(m, torch.nn.MultiheadAttention):
        return m.dropout > 0
    return False


def flatten(model):
    """The modules in named_modules() order: (path, name, parent index, cls, params, tied, buffers, flags)."""
    out = []
    memo = set()
    seen_params = set()

    def rec(mod, path, name, parent):
        idx = len(out)
        params = []
        tied = 0
        frozen = True
        for pn, p in mod.named_parameters(recurse=False):
            params.append((pn, p.numel()))
            if id(p) in seen_params:
                tied += p.numel()
            seen_params.add(id(p))
            frozen = frozen and not p.requires_grad
        buffers = sum(b.numel() for _, b in mod.named_buffers(recurse=False))
        flags = 0
        if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm) and mod.track_running_stats:
            flags |= 1
        if is_dropout(mod):
            flags |= 2
        if params and frozen:
            flags |= 4
        out.append((path, name, parent, type(mod).__name__, tuple(params), tied, buffers, flags))
        for cname, child in mod._modules.items():
            if child is None or id(child) in memo:
                continue
            memo.add(id(child))
            rec(child, cname if path == '' else f'{path}.{cname}', cname, idx)

    memo.add(id(model))
    rec(model, '', '', -1)
    expected = [p for p, _ in model.named_modules()]
    got = [r[0] for r in out]
    if expected != got:
        raise SystemExit(f'flatten disagrees with named_modules() for {type(model).__name__}')
    return out


class Table:
    def __init__(self):
        self.strings = []
        self.string_idx = {}
        self.nodes = []
        self.node_idx = {}

    def s(self, text):
        i = self.string_idx.get(text)
        if i is None:
            i = self.string_idx[text] = len(self.strings)
            self.strings.append(text)
        return i

    def intern(self, flat):
        """Interns the subtrees of a flattened model; returns the root's node index."""
        kids = [[] for _ in flat]
        idx = [0] * len(flat)
        for i in range(len(flat) - 1, -1, -1):
            path, name, parent, cls, params, tied, buffers, flags = flat[i]
            ps = []
            for pn, numel in params:
                ps += [self.s(pn), numel]
            ch = []
            for k in reversed(kids[i]):
                ch += [self.s(flat[k][1]), idx[k]]
            node = [self.s(cls), ps, buffers, flags, ch, tied]
            while node and node[-1] in (0, []):
                node.pop()
            key = json.dumps(node, separators=(',', ':'))
            j = self.node_idx.get(key)
            if j is None:
                j = self.node_idx[key] = len(self.nodes)
                self.nodes.append(node)
            idx[i] = j
            if parent >= 0:
                kids[parent].append(i)
        return idx[0]


def build(builder, **kwargs):
    with cheap_construction():
        model = builder(**kwargs)
    flat = flatten(model)
    del model
    gc.collect()
    return flat


def same_shape(a, b):
    """Same paths, classes, parameter names and buffers (numels may differ)."""
    return len(a) == len(b) and all(
        x[0] == y[0] and x[3] == y[3] and [p for p, _ in x[4]] == [p for p, _ in y[4]] and x[6] == y[6]
        for x, y in zip(a, b)
    )


def fit_formulas(name, base, fits, check):
    """[(path, param, a, b)] for every parameter whose numel depends on num_classes."""
    for other in list(fits.values()) + [check[1]]:
        if not same_shape(base, other):
            raise SystemExit(f'{name}: the module structure changes with num_classes')
    (c1, f1), (c2, f2) = sorted(fits.items())
    formulas = []
    for i, rec in enumerate(base):
        for j, (pn, n0) in enumerate(rec[4]):
            n1, n2, n3 = f1[i][4][j][1], f2[i][4][j][1], check[1][i][4][j][1]
            if n1 == n2 == n3:
                if n0 != n1:
                    raise SystemExit(f'{name}: {rec[0]}.{pn} has {n0} by default, {n1} otherwise')
                continue
            if (n2 - n1) % (c2 - c1):
                raise SystemExit(f'{name}: {rec[0]}.{pn} is not linear in num_classes')
            a = (n2 - n1) // (c2 - c1)
            b = n1 - a * c1
            if a * check[0] + b != n3:
                raise SystemExit(f'{name}: {rec[0]}.{pn} is not linear in num_classes ({n1}, {n2}, {n3})')
            formulas.append((rec[0], pn, a, b, n0))
    defaults = {(n0 - b) / a for _, _, a, b, n0 in formulas}
    if len(defaults) != 1 or not float(next(iter(defaults))).is_integer():
        raise SystemExit(f'{name}: no single default num_classes fits ({defaults})')
    return [f[:4] for f in formulas], int(next(iter(defaults)))


def with_formulas(name, builder, **kwargs):
    """The flattened model, its num_classes formulas, its default num_classes, whether it takes num_classes."""
    base = build(builder, **kwargs)
    try:
        fits = {c: build(builder, num_classes=c, **kwargs) for c in FIT}
    except TypeError:
        return base, [], None, False
    check = (CHECK, build(builder, num_classes=CHECK, **kwargs))
    for other in list(fits.values()) + [check[1]]:
        if not same_shape(base, other):
            raise SystemExit(f'{name}: the module structure changes with num_classes')
    if not any(r[4] != s[4] for r, s in zip(base, check[1])):
        return base, [], None, True
    formulas, default_nc = fit_formulas(name, base, fits, check)
    if apply_formulas(base, formulas, CHECK) != check[1]:
        raise SystemExit(f'{name}: formulas do not reproduce num_classes={CHECK}')
    return base, formulas, default_nc, True


def apply_formulas(flat, formulas, nc):
    by = {(p, n): a * nc + b for p, n, a, b in formulas}
    return [
        r[:4] + (tuple((pn, by.get((r[0], pn), numel)) for pn, numel in r[4]),) + r[5:]
        for r in flat
    ]


def total(flat):
    return sum(sum(n for _, n in r[4]) - r[5] for r in flat)


def main():
    warnings.filterwarnings('ignore')  # googlenet/inception init notices, meshgrid
    # SSD builders run the backbone to find its output channels; on
    # uninitialised weights denormals would make that slow.
    torch.set_flush_denormal(True)
    table = Table()
    catalog = {}
    timings = []
    for task, module in GROUPS:
        for name in _api.list_models(module=module):
            started = time.time()
            builder = _api.get_model_builder(name)
            sig = inspect.signature(builder).parameters
            extra = {'weights_backbone': None} if 'weights_backbone' in sig else {}
            base, formulas, default_nc, takes_nc = with_formulas(name, builder, weights=None, **extra)
            entry = {'t': task, 'r': table.intern(base)}
            weights_enum = _api.get_model_weights(builder)
            default_w = weights_enum.DEFAULT
            meta = default_w.meta
            with no_weights():
                pre = build(builder, weights='DEFAULT')
            pre_root = table.intern(pre)
            if pre_root != entry['r']:
                entry['p'] = pre_root
            pre_nc = len(meta['categories']) if meta.get('categories') else None
            if formulas:
                if pre_nc is None:
                    raise SystemExit(f'{name}: the default weights name no categories')
                # The pretrained tree's num_classes-dependent parameters must be the formulas at the weights' num_classes.
                pre_by_path = {r[0]: dict(r[4]) for r in pre}
                for path, pn, a, b in formulas:
                    if path in pre_by_path and pre_by_path[path].get(pn) != a * pre_nc + b:
                        raise SystemExit(f'{name}: pretrained {path}.{pn} does not fit num_classes={pre_nc}')
                entry['c'] = default_nc
                entry['k'] = pre_nc
                entry['f'] = [list(f) for f in formulas]
            elif pre_nc is not None and takes_nc:
                raise SystemExit(f'{name}: accepts num_classes but no parameter depends on it')

            if extra:
                # A bare call of most detection and segmentation builders loads a pretrained backbone.
                bb_default = sig['weights_backbone'].default
                entry['bd'] = 0 if bb_default is None else 1
                with no_weights():
                    bb, bb_formulas, bb_nc, _ = with_formulas(
                        name, builder, weights=None, weights_backbone=bb_default or 'DEFAULT'
                    )
                bb_root = table.intern(bb)
                if bb_root != entry['r']:
                    entry['b'] = bb_root
                if bb_nc != default_nc:
                    raise SystemExit(f'{name}: the default num_classes changes with the pretrained backbone')
                if bb_formulas != formulas:
                    entry['bf'] = [list(f) for f in bb_formulas]

            published = meta.get('num_params')
            if published is not None:
                entry['n'] = published
                if total(pre) != published:
                    print(f'note: {name}: pretrained variant has {total(pre)} params, weights meta says {published}')
            entry['w'] = repr(default_w)
            catalog[name] = entry
            del base, pre
            gc.collect()
            timings.append((time.time() - started, name))

    data = {
        'v': 1,
        'torch': torch.__version__,
        'torchvision': torchvision.__version__,
        's': table.strings,
        'n': table.nodes,
        'm': catalog,
    }
    text = json.dumps(data, separators=(',', ':'), sort_keys=False) + '\n'
    raw = text.encode('utf8')
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'wb') as f:
        f.write(raw)
    gz = len(gzip.compress(raw, 9, mtime=0))
    slowest = ', '.join(f'{n} {t:.1f}s' for t, n in sorted(timings, reverse=True)[:5])
    print(f'{len(catalog)} architectures, {len(table.nodes)} unique subtrees, {len(table.strings)} strings')
    print(f'wrote {os.path.relpath(OUT, ROOT)}: {len(raw)} bytes ({gz} gzipped)')
    print(f'slowest: {slowest}')
    print(f'wall time {time.time() - T0:.1f}s')


if __name__ == '__main__':
    main()
