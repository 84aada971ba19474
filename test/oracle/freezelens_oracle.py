"""FreezeLens runtime oracle: watch a real PyTorch training run and record the
runtime symptoms that FreezeLens's rules claim.

Usage (what test/oracle/run-fixtures.mjs does):

    FREEZELENS_ORACLE_OUT=out.json python3 -m freezelens_oracle train.py [args...]

The script runs unchanged, as ``__main__``. A script may also ``import
freezelens_oracle`` itself; the instrumentation is then installed on import and
the report is written at exit. Fixtures normally do not, so that a static
checker sees only user code.

What is instrumented (all hooks only read or clone tensors; numerics are
unchanged):

* ``torch.optim.Optimizer.__init__``: records each optimizer, its groups, the
  params frozen at build, and an "empty parameter list" failure (FRZ010).
* ``step()`` of every optimizer class: before the step, the models in scope
  are found (by looking through the calling frames for ``nn.Module`` values,
  one attribute level deep, plus anything passed to ``watch()``); every
  parameter's requires_grad, grad presence and optimizer membership is read and
  the optimizer's params are cloned; after the step they are compared.
* global forward hooks: BatchNorm running stats around forwards of a BN whose
  affine params are all frozen, BN in train mode with
  ``track_running_stats=False``, and Dropout in train mode whose parent module
  is entirely frozen.
* ``DistributedDataParallel.__init__``: requires_grad of every param at wrap.

Intent (what the script *meant* to freeze) cannot be seen at run time, so it
comes from three places: a module attribute such as ``requires_grad`` /
``require_grad`` set to False on an ``nn.Module`` (or a misspelt attribute on a
parameter), a header comment in the script::

    # oracle: intended-frozen backbone., encoder.layer.0.

(parameter-name prefixes), or a call ``freezelens_oracle.intended_frozen(model,
["backbone."])``.

Symptoms (keys of ``report["symptoms"]``):

* ``frozen_changed``: a param changed at an optimizer step although it had
  requires_grad False (reason ``requires_grad_false``, FRZ006), or it sits in a
  non-normalization module that was in eval mode at that step (reason
  ``eval_mode``, FRZ011), or it was declared intended-frozen (``intended``).
* ``frozen_grad_in_optimizer``: a frozen param inside the stepping optimizer
  held a non-None grad at a step (FRZ001 with real harm).
* ``frozen_bn_drift``: a BatchNorm whose affine params are all frozen ran
  forward in train mode and its running_mean/var changed (FRZ002).
* ``never_updated``: a param with requires_grad True at some step that never
  changed, although it was in an optimizer or received a grad (FRZ005,
  FRZ009, FRZ014; ``in_optimizer`` and ``had_grad`` tell which).
* ``still_trainable``: an intended-frozen param with requires_grad True at the
  first step it was seen (FRZ004, FRZ007, FRZ008).
* ``nothing_trainable``: empty optimizer, a step with no trainable param, or
  ``backward()`` on a graph with nothing requiring grad (FRZ010).
* ``bn_untracked_train``: BN in train mode with ``track_running_stats`` turned
  off after construction: batch stats are used, running stats freeze (FRZ012).
* ``frozen_dropout_train``: Dropout (p > 0) in train mode inside a module whose
  params are all frozen (FRZ013).
* ``ddp_requires_grad_changed``: requires_grad differs at a step from what it
  was when DistributedDataParallel wrapped the model (FRZ017).
* ``unfrozen_at_head_lr``: a param that was frozen when the optimizer was
  built, in a param group that also held trainable params, was later unfrozen
  and trained: at the LR chosen for the params trainable from the start,
  usually the new head's (FRZ001 with real harm, FRZ003).

Each entry names a parameter (``name``, relative to the model; prefixed with
the variable name when several models are in scope) or a module (``module``),
and ``step``: the number of optimizer steps taken before it was seen (1 = at
the first step; 0 = in a forward before any step). Entries are de-duplicated
per parameter or module, first occurrence kept.

Informational (``report["info"]``): optimizers and their groups, frozen params
held by optimizers with grad None (harmless FRZ001), params held by an
optimizer but by no model in scope (a replaced module, FRZ009), and the LRs
each top-level submodule was trained with (FRZ003, FRZ015).

Locations. A static checker points at a line, so each symptom entry also says
where in the script its cause happened: ``where`` maps a kind of cause to the
script lines on the call stack when it happened (innermost first, so a call
inside a helper lists the helper's line and the line that called it):

* ``freeze`` / ``unfreeze``: the last ``requires_grad = False`` / ``True`` (or
  ``requires_grad_()``) on the param; ``requires_grad``: every such change;
* ``optimizer``: where the optimizer concerned was built or given a group;
* ``mode``: the ``train()`` / ``eval()`` call that set the module's mode;
* ``attribute``: the assignment of a freeze-like attribute (``requires_grad``
  on a module, a misspelling on a param) or of ``track_running_stats``;
* ``assigned``: the assignment that attached the param's module (or its
  nearest assigned ancestor) to its parent, e.g. ``model.fc = nn.Linear(..)``;
* ``no_grad``: a call of the param's module that ran with grad disabled.

A kind is missing where the cause left no trace (a module still in the mode
it was built in, ``.detach()``, a comparison used as a statement).
``report["executed_lines"]`` lists the script lines that ran, so a checker's
finding on a line that never ran (after a crash) can be told apart from one
that ran without the claimed effect.
"""
import atexit
import json
import os
import re
import runpy
import sys
import traceback

import torch
import torch.nn as nn

__all__ = ["watch", "intended_frozen", "report", "run_script"]

_THIS_FILE = os.path.abspath(__file__)
_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__))
_NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)
_BN_TYPES = (nn.modules.batchnorm._BatchNorm,)
_DROPOUT_TYPES = (nn.modules.dropout._DropoutNd,)
# Plain attributes that people set on modules or params believing they freeze.
_FREEZE_ATTRS = ("requires_grad", "require_grad", "requires_grads", "required_grad",
                 "require_grads", "requires_gradient", "requiresgrad")
_WATCHED_MODULE_ATTRS = _FREEZE_ATTRS + ("track_running_stats",)
_LIST_CAP = 400


def _wrapped_module(m):
    """Unwrap DistributedDataParallel / DataParallel."""
    inner = getattr(m, "module", None)
    if isinstance(inner, nn.Module) and type(m).__name__ in ("DistributedDataParallel", "DataParallel"):
        return inner
    return m


def _has_params(m):
    for _ in m.parameters():
        return True
    return False


class _Recorder:
    def __init__(self):
        self.script = None
        self.step = 0
        self.in_step = False
        self.explicit_roots = []          # (label, module) from watch()
        self.roots = {}                   # id(module) -> (label, module), last discovery
        self.root_labels = set()
        self.module_names = {}            # id(module) -> (label, name)
        self.modules_by_id = {}           # id(module) -> module (strong refs, to keep ids stable)
        self.parent_of = {}               # id(child) -> parent module
        self.params = {}                  # id(p) -> record dict
        self.optimizers = []              # info dicts
        self.opt_objs = []                # optimizer objects (strong refs)
        self.intent_prefixes = []         # (prefix, source)
        self.intent_ids = {}              # id(p) -> source
        self.intent_checked = set()
        self.ddp = []                     # {"rg": {id(p): requires_grad at the wrap}}
        self.sym = {k: [] for k in (
            "frozen_changed", "frozen_grad_in_optimizer", "frozen_bn_drift", "never_updated",
            "still_trainable", "nothing_trainable", "bn_untracked_train", "frozen_dropout_train",
            "ddp_requires_grad_changed", "unfrozen_at_head_lr")}
        self._seen = set()                # de-duplication keys for symptom entries
        self.frozen_in_opt_no_grad = {}   # id(p) -> (name, first step)
        self.trained_lr = {}              # (label, top-level child) -> set of lrs while trainable
        self.trained_order = {}           # same key -> position in the model's parameter order
        self.bn_pending = {}
        self.discovery_step = -1
        self.exit = {"ok": True}
        self.finished = False
        self.errors = []              # internal errors of the oracle itself
        self.orphans = []             # params held by an optimizer but by no model in scope
        self.frozen_in_mixed_group = {}   # id(p) -> optimizer index: frozen at build, in a group with trainable params
        # Locations (see "Locations" above). Values keep the object itself so
        # that its id cannot be reused by another object while recorded.
        self._script_files = {}           # co_filename -> whether it is the script
        self.executed = set()             # script lines that ran
        self.seq = 0                      # orders the events below
        self.rg_events = {}               # id(p) -> (p, [(seq, requires_grad, lines)])
        self.last_freeze = None           # lines of the latest requires_grad=False on any param
        self.mode_set = {}                # id(module) -> (module, seq, lines of the train()/eval() call)
        self.attr_lines = {}              # (id(obj), attr) -> (obj, lines)
        self.assigned = {}                # id(module) -> (module, lines of `parent.x = module`)
        self.no_grad_calls = {}           # id(module) -> (module, set of lines)
        self.intent_lines = {}            # id(p) -> lines where the intent was expressed
        self.opt_lines = {}               # id(optimizer) -> lines where it was built or given groups

    # ----- naming and discovery -------------------------------------------------
    def _user_frames(self, start):
        f = start
        while f is not None:
            fn = f.f_code.co_filename
            if not (fn.startswith(_TORCH_DIR) or os.path.abspath(fn) == _THIS_FILE
                    or fn.startswith("<frozen") or "runpy" in os.path.basename(fn)):
                yield f
            f = f.f_back

    def discover(self):
        """Find the models in scope: nn.Module values in the calling frames."""
        cands = []  # (label, module), outermost label wins

        def consider(label, v, depth):
            if isinstance(v, nn.Module):
                cands.append((label, _wrapped_module(v)))
            elif depth == 0 and isinstance(v, (list, tuple)):
                for i, x in enumerate(v[:16]):
                    consider(f"{label}[{i}]", x, 1)
            elif depth == 0 and isinstance(v, dict):
                for k, x in list(v.items())[:16]:
                    if isinstance(k, str):
                        consider(f"{label}[{k!r}]", x, 1)
            elif depth == 0 and hasattr(v, "__dict__") and not isinstance(v, (type, torch.Tensor)) \
                    and type(v).__module__ not in ("builtins",) and not type(v).__module__.startswith("torch") \
                    and not callable(v) and type(v).__name__ != "module":
                try:
                    items = list(vars(v).items())[:64]
                except TypeError:
                    items = []
                for k, x in items:
                    if isinstance(x, nn.Module):
                        consider(f"{label}.{k}" if label != "self" else k, x, 1)

        frames = list(self._user_frames(sys._getframe(1)))
        for f in reversed(frames):  # outermost first
            for name, v in list(f.f_locals.items()):
                if name.startswith("__"):
                    continue
                consider(name, v, 0)
        for label, m in self.explicit_roots:
            cands.append((label, m))
        uniq = {}
        for label, m in cands:
            if id(m) not in uniq and _has_params(m):
                uniq[id(m)] = (label, m)
        sub = {}
        for mid, (label, m) in uniq.items():
            sub[mid] = {id(x) for x in m.modules() if x is not m}
        roots = {}
        for mid, (label, m) in uniq.items():
            if any(mid in s for oid, s in sub.items() if oid != mid):
                continue
            roots[mid] = (label, m)
        self.roots = roots
        for mid, (label, m) in roots.items():
            self.root_labels.add(label)
            for name, mod in m.named_modules(remove_duplicate=False):
                self.module_names.setdefault(id(mod), (label, name))
                self.modules_by_id[id(mod)] = mod
                for cname, child in mod.named_children():
                    self.parent_of[id(child)] = mod
        self.discovery_step = self.step
        return roots

    def named_params(self):
        out = {}
        for mid, (label, m) in self.roots.items():
            for name, p in m.named_parameters():
                out.setdefault(id(p), (label, name, p))
        for oi, opt in enumerate(self.opt_objs):
            for gi, g in enumerate(opt.param_groups):
                for pi, p in enumerate(g["params"]):
                    out.setdefault(id(p), ("", f"optimizer{oi}.group{gi}[{pi}]", p))
        return out

    def qualify(self, label, name):
        if len(self.root_labels) <= 1 or not label:
            return name
        return f"{label}.{name}" if name else label

    def module_label(self, m):
        ln = self.module_names.get(id(m))
        if ln is None:
            return f"{type(m).__name__}@unknown"
        return self.qualify(*ln) or "<root>"

    def user_line(self):
        for f in self._user_frames(sys._getframe(1)):
            if self.script and os.path.abspath(f.f_code.co_filename) == self.script:
                return f.f_lineno
        return None

    # ----- locations -------------------------------------------------------------------
    def is_script(self, filename):
        hit = self._script_files.get(filename)
        if hit is None:
            hit = self._script_files[filename] = bool(self.script) and os.path.abspath(filename) == self.script
        return hit

    def script_lines(self):
        """Script lines on the current call stack, innermost first."""
        out = []
        f = sys._getframe(1)
        while f is not None:
            if self.is_script(f.f_code.co_filename) and f.f_lineno not in out:
                out.append(f.f_lineno)
            f = f.f_back
        return out

    def next_seq(self):
        self.seq += 1
        return self.seq

    def on_mode(self, module, seq0):
        """After module.train(mode) / eval(): remember the call for every module it set.

        Modules already set by a call nested in this one (a ``train()`` override
        that puts BN back in eval) keep that call."""
        lines = self.script_lines()
        seq = self.next_seq()
        for m in module.modules():
            prev = self.mode_set.get(id(m))
            if prev is None or prev[1] < seq0:
                self.mode_set[id(m)] = (m, seq, lines)

    def on_param_attr(self, p, name, value):
        lines = self.script_lines()
        if name == "requires_grad":
            self.rg_events.setdefault(id(p), (p, []))[1].append((self.next_seq(), bool(value), lines))
            if not value:
                self.last_freeze = lines
        else:
            self.attr_lines[(id(p), name)] = (p, lines)

    def on_module_attr(self, module, name, value):
        if isinstance(value, nn.Module):
            self.assigned[id(value)] = (value, self.script_lines())
        else:
            self.attr_lines[(id(module), name)] = (module, self.script_lines())

    def on_no_grad_call(self, m):
        entry = self.no_grad_calls.setdefault(id(m), (m, set()))
        entry[1].update(self.script_lines())

    def rg_lines(self, pid, value=None, last=True):
        """Lines of the last (or every) requires_grad change of a param to `value` (None: any)."""
        events = [e for e in self.rg_events.get(pid, (None, []))[1] if value is None or e[1] == value]
        if not events:
            return None
        if last:
            return events[-1][2]
        return sorted({ln for e in events for ln in e[2]})

    def mode_lines(self, m, training):
        rec = self.mode_set.get(id(m))
        return rec[2] if rec is not None and bool(m.training) == training else None

    def owners(self):
        """id(param) -> the module that holds it directly, among the models in scope."""
        out = {}
        for _, (_, root) in self.roots.items():
            for m in root.modules():
                for q in m.parameters(recurse=False):
                    out.setdefault(id(q), m)
        return out

    def assigned_lines(self, m):
        """Where `m`, or its nearest ancestor that was assigned by attribute, was attached."""
        while m is not None:
            rec = self.assigned.get(id(m))
            if rec is not None and rec[1]:
                return rec[1]
            m = self.parent_of.get(id(m))
        return None

    @staticmethod
    def where(**kinds):
        return {k: v for k, v in kinds.items() if v}

    def add(self, kind, key, entry):
        if (kind, key) in self._seen:
            return
        self._seen.add((kind, key))
        self.sym[kind].append(entry)

    # ----- intent ------------------------------------------------------------------
    def check_intent(self, params):
        """Declared or attribute-expressed intent to freeze, checked when a param is first seen."""
        # Module attributes: model.backbone.requires_grad = False and friends.
        for mid, (label, root) in self.roots.items():
            for name, mod in root.named_modules():
                for attr in _FREEZE_ATTRS:
                    if mod.__dict__.get(attr, None) is False:
                        lines = self.attr_lines.get((id(mod), attr), (None, None))[1]
                        for pn, p in mod.named_parameters():
                            self.intent_ids.setdefault(id(p), f"module attribute {name or '<root>'}.{attr}")
                            self.intent_lines.setdefault(id(p), lines)
        for pid, (label, name, p) in params.items():
            for attr in _FREEZE_ATTRS:
                if attr != "requires_grad" and p.__dict__.get(attr, None) is False:
                    self.intent_ids.setdefault(pid, f"parameter attribute .{attr}")
                    self.intent_lines.setdefault(pid, self.attr_lines.get((pid, attr), (None, None))[1])
            for prefix, source in self.intent_prefixes:
                if name.startswith(prefix) or self.qualify(label, name).startswith(prefix):
                    self.intent_ids.setdefault(pid, source)
        for pid, (label, name, p) in params.items():
            src = self.intent_ids.get(pid)
            if src is None or pid in self.intent_checked:
                continue
            self.intent_checked.add(pid)
            if p.requires_grad:
                self.add("still_trainable", pid, {
                    "name": (label, name), "source": src, "step": self.step,
                    "where": self.where(attribute=self.intent_lines.get(pid), unfreeze=self.rg_lines(pid, True),
                                        requires_grad=self.rg_lines(pid, last=False))})

    # ----- optimizer hooks -----------------------------------------------------------
    def before_step(self, opt):
        self.step += 1
        k = self.step
        self.discover()
        params = self.named_params()
        self.check_intent(params)
        member = {}
        for oi, o in enumerate(self.opt_objs):
            for gi, g in enumerate(o.param_groups):
                for p in g["params"]:
                    member.setdefault(id(p), (oi, gi, g))
        this_opt = {}
        for g in opt.param_groups:
            for p in g["params"]:
                this_opt[id(p)] = (p, g)
        opt_lines = self.opt_lines.get(id(opt))
        eval_ids = {}  # id(p) -> where its module was put in eval mode
        for mid, (label, root) in self.roots.items():
            for mod in root.modules():
                if mod is root or mod.training or isinstance(mod, _NORM_TYPES):
                    continue
                for p in mod.parameters(recurse=False):
                    eval_ids[id(p)] = self.mode_lines(mod, False)
        any_trainable = False
        rg_before = {}
        for order, (pid, (label, name, p)) in enumerate(params.items()):
            rg = bool(p.requires_grad)
            rg_before[pid] = rg
            r = self.params.get(pid)
            if r is None:
                r = self.params[pid] = {"name": (label, name), "p": p, "initial": p.detach().clone(),
                                        "first_step": k, "rg_steps": 0, "changed": False,
                                        "had_grad": False, "in_optimizer": False,
                                        "in_model": False}
            r["name"] = (label, name)
            if label:
                r["in_model"] = True
            has_grad = p.grad is not None
            if rg:
                any_trainable = True
                r["rg_steps"] += 1
                if has_grad:
                    r["had_grad"] = True
                if pid in member:
                    r["in_optimizer"] = True
                    g = member[pid][2]
                    top = name.split(".")[0] if name else label
                    key = (label, top)
                    self.trained_lr.setdefault(key, set()).add(float(g.get("lr", float("nan"))))
                    self.trained_order[key] = min(order, self.trained_order.get(key, order))
            elif pid in this_opt:
                if has_grad:
                    self.add("frozen_grad_in_optimizer", pid, {
                        "name": (label, name), "step": k,
                        "where": self.where(freeze=self.rg_lines(pid, False), optimizer=opt_lines)})
                else:
                    self.frozen_in_opt_no_grad.setdefault(pid, ((label, name), k, self.opt_objs.index(opt)
                                                                if opt in self.opt_objs else None))
        for pid, (p, g) in this_opt.items():
            if pid not in params:
                rg_before[pid] = bool(p.requires_grad)
        if not any_trainable:
            self.add("nothing_trainable", ("step",), {"kind": "step", "step": k,
                                                      "detail": "no parameter requires grad at optimizer.step()",
                                                      "where": self.where(freeze=self.last_freeze)})
        for d in self.ddp:
            for pid, rg0 in d["rg"].items():
                if pid in params and bool(params[pid][2].requires_grad) != rg0:
                    label, name, _ = params[pid]
                    self.add("ddp_requires_grad_changed", pid, {
                        "name": (label, name), "step": k, "at_wrap": rg0, "now": not rg0,
                        "where": self.where(requires_grad=self.rg_lines(pid))})
        snap = {pid: p.detach().clone() for pid, (p, g) in this_opt.items()}
        return {"snap": snap, "rg": rg_before, "eval": eval_ids, "params": params, "this": this_opt,
                "opt_lines": opt_lines}

    def after_step(self, opt, pre):
        k = self.step
        for pid, before in pre["snap"].items():
            p = pre["this"][pid][0]
            if torch.equal(before, p.detach()):
                continue
            r = self.params.get(pid)
            if r is not None:
                r["changed"] = True
            nm = r["name"] if r is not None else ("", f"param@{pid}")
            if pid in self.frozen_in_mixed_group and pre["rg"].get(pid, False):
                built = self.opt_objs[self.frozen_in_mixed_group[pid]]
                self.add("unfrozen_at_head_lr", pid, {
                    "name": nm, "step": k,
                    "where": self.where(optimizer=self.opt_lines.get(id(built)), unfreeze=self.rg_lines(pid, True))})
            if not pre["rg"].get(pid, True):
                self.add("frozen_changed", pid, {
                    "name": nm, "step": k, "reason": "requires_grad_false",
                    "where": self.where(freeze=self.rg_lines(pid, False), optimizer=pre["opt_lines"])})
            elif pid in pre["eval"]:
                self.add("frozen_changed", pid, {"name": nm, "step": k, "reason": "eval_mode",
                                                 "where": self.where(mode=pre["eval"][pid])})
            elif pid in self.intent_ids:
                self.add("frozen_changed", pid, {"name": nm, "step": k, "reason": "intended",
                                                 "source": self.intent_ids[pid],
                                                 "where": self.where(attribute=self.intent_lines.get(pid))})

    def on_optimizer_built(self, opt):
        # Also filled by add_param_group() (which __init__ calls for every group).
        lines = self.opt_lines.setdefault(id(opt), [])
        lines.extend(ln for ln in self.script_lines() if ln not in lines)
        info = {"index": len(self.opt_objs), "class": type(opt).__name__, "line": self.user_line(),
                "lines": lines,
                "built_before_step": self.step, "groups": []}
        frozen = 0
        for g in opt.param_groups:
            n_frozen = sum(1 for p in g["params"] if not p.requires_grad)
            if 0 < n_frozen < len(g["params"]):
                for p in g["params"]:
                    if not p.requires_grad:
                        self.frozen_in_mixed_group.setdefault(id(p), len(self.opt_objs))
            frozen += n_frozen
            info["groups"].append({k: (v if isinstance(v, (int, float, bool, str)) or v is None else str(v))
                                   for k, v in g.items() if k in ("lr", "weight_decay", "momentum")} |
                                  {"n_params": len(g["params"]), "n_frozen_at_build": n_frozen})
        info["n_frozen_at_build"] = frozen
        self.optimizers.append(info)
        self.opt_objs.append(opt)

    def on_add_param_group(self, opt):
        lines = self.opt_lines.setdefault(id(opt), [])
        lines.extend(ln for ln in self.script_lines() if ln not in lines)

    # ----- forward hooks ------------------------------------------------------------------
    def forward_pre(self, m, inputs):
        if not torch.is_grad_enabled() and any(p.requires_grad for p in m.parameters(recurse=False)):
            self.on_no_grad_call(m)
        if isinstance(m, _BN_TYPES):
            if m.training and m.running_mean is not None:
                if not m.track_running_stats:
                    self.add("bn_untracked_train", id(m), {
                        "module": m, "step": self.step,
                        "where": self.where(attribute=self.attr_lines.get((id(m), "track_running_stats"),
                                                                          (None, None))[1],
                                            mode=self.mode_lines(m, True))})
                elif m.affine and all(not p.requires_grad for p in m.parameters(recurse=False)):
                    self.bn_pending[id(m)] = (m.running_mean.clone(), m.running_var.clone())
        elif isinstance(m, _DROPOUT_TYPES) and m.training and m.p > 0:
            parent = self.parent_of.get(id(m))
            if parent is None and self.discovery_step != self.step:
                try:
                    self.discover()
                except Exception:  # never break the user's forward
                    pass
                parent = self.parent_of.get(id(m))
            if parent is not None and _has_params(parent) and \
                    all(not p.requires_grad for p in parent.parameters()):
                self.add("frozen_dropout_train", id(m), {"module": m, "step": self.step,
                                                         "where": self.where(mode=self.mode_lines(m, True))})

    def forward_post(self, m, inputs, output):
        pending = self.bn_pending.pop(id(m), None)
        if pending is not None:
            mean, var = pending
            if not (torch.equal(mean, m.running_mean) and torch.equal(var, m.running_var)):
                self.add("frozen_bn_drift", id(m), {"module": m, "step": self.step,
                                                    "where": self.where(mode=self.mode_lines(m, True))})

    def internal_error(self, e):
        msg = "".join(traceback.format_exception_only(type(e), e)).strip()
        print(f"freezelens-oracle: internal error: {msg}", file=sys.stderr)
        self.errors.append(msg)

    # ----- result -------------------------------------------------------------------------
    def result(self):
        # never_updated: trainable at some step, never changed, yet meant to train
        # (in an optimizer or given a grad).
        owners = self.owners()
        for pid, r in self.params.items():
            if r["rg_steps"] == 0 or r["changed"]:
                continue
            if not (r["in_optimizer"] or r["had_grad"]):
                continue
            if not r["in_model"]:
                # Held by an optimizer only: a module that was replaced (see FRZ009).
                self.orphans.append(self.qualify(*r["name"]))
                continue
            if not torch.equal(r["initial"], r["p"].detach()):
                continue
            owner = owners.get(pid)
            no_grad = self.no_grad_calls.get(id(owner), (None, None))[1] if owner is not None else None
            self.add("never_updated", pid, {
                "name": r["name"], "in_optimizer": r["in_optimizer"],
                "had_grad": r["had_grad"], "first_step": r["first_step"],
                "where": self.where(unfreeze=self.rg_lines(pid, True), assigned=self.assigned_lines(owner),
                                    no_grad=sorted(no_grad) if no_grad else None)})

        def fix(e):
            e = dict(e)
            if "name" in e and isinstance(e["name"], tuple):
                e["name"] = self.qualify(*e["name"])
            if "module" in e and isinstance(e["module"], nn.Module):
                e["module"] = self.module_label(e["module"])
            return e

        symptoms = {k: [fix(e) for e in v][:_LIST_CAP] for k, v in self.sym.items()}
        counts = {k: len(v) for k, v in self.sym.items()}
        frozen_no_grad = [self.qualify(*nm) for nm, _, _ in self.frozen_in_opt_no_grad.values()]
        frozen_no_grad_opts = sorted({oi for _, _, oi in self.frozen_in_opt_no_grad.values() if oi is not None})
        return {
            "script": self.script,
            "torch": torch.__version__,
            "steps": self.step,
            "roots": sorted(self.root_labels),
            "exit": self.exit,
            "executed_lines": sorted(self.executed),
            "oracle_errors": self.errors,
            "symptoms": symptoms,
            "counts": counts,
            "info": {
                "optimizers": self.optimizers,
                "frozen_in_optimizer_grad_none": {"count": len(frozen_no_grad), "names": frozen_no_grad[:_LIST_CAP],
                                                  "optimizers": frozen_no_grad_opts},
                "trained_lr": {self.qualify(*k): sorted(v) for k, v in sorted(self.trained_lr.items())},
                "trained_lr_order": [[self.qualify(*k), sorted(self.trained_lr[k])]
                                     for k in sorted(self.trained_lr, key=lambda k: self.trained_order[k])],
                "optimizer_only_params": {"count": len(self.orphans), "names": self.orphans[:_LIST_CAP]},
                "intended_frozen": sorted({s for s in self.intent_ids.values()}),
            },
        }


_rec = _Recorder()
_installed = False


def _install():
    global _installed
    if _installed:
        return
    _installed = True
    Optimizer = torch.optim.Optimizer
    orig_init = Optimizer.__init__

    def init(self, params, defaults):
        try:
            orig_init(self, params, defaults)
        except ValueError as e:
            if "empty parameter list" in str(e):
                _rec.add("nothing_trainable", ("build", _rec.user_line()),
                         {"kind": "optimizer_build", "line": _rec.user_line(), "detail": str(e),
                          "where": _rec.where(optimizer=_rec.script_lines())})
            raise
        _wrap_step(type(self))
        try:
            _rec.on_optimizer_built(self)
        except Exception as e:  # pragma: no cover - the oracle must never change behaviour
            print(f"freezelens-oracle: internal error {e!r}", file=sys.stderr)

    Optimizer.__init__ = init

    orig_add_param_group = Optimizer.add_param_group

    def add_param_group(self, param_group):
        out = orig_add_param_group(self, param_group)
        _guarded(_rec.on_add_param_group, self)
        return out

    Optimizer.add_param_group = add_param_group

    nn.modules.module.register_module_forward_pre_hook(lambda m, i: _guarded(_rec.forward_pre, m, i))
    nn.modules.module.register_module_forward_hook(lambda m, i, o: _guarded(_rec.forward_post, m, i, o))

    # Locations: the calls that set modes, requires_grad and attributes. Each
    # wrapper calls the original first and only reads afterwards.
    orig_train = nn.Module.train

    def train(self, mode=True):
        seq0 = _rec.next_seq()
        out = orig_train(self, mode)
        _guarded(_rec.on_mode, self, seq0)
        return out

    nn.Module.train = train  # eval() calls train(False); overrides reach it through super()

    orig_module_setattr = nn.Module.__setattr__

    def module_setattr(self, name, value):
        orig_module_setattr(self, name, value)
        if name in _WATCHED_MODULE_ATTRS or isinstance(value, nn.Module):
            _guarded(_rec.on_module_attr, self, name, value)

    nn.Module.__setattr__ = module_setattr

    # `p.requires_grad = b` (and its misspellings) and `p.requires_grad_(b)`,
    # which Module.requires_grad_ calls for each param. Plain tensors are left alone.
    Parameter = nn.Parameter

    def param_setattr(self, name, value):
        torch.Tensor.__setattr__(self, name, value)
        if name in _FREEZE_ATTRS:
            _guarded(_rec.on_param_attr, self, name, value)

    orig_requires_grad_ = torch.Tensor.requires_grad_

    def param_requires_grad_(self, requires_grad=True):
        out = orig_requires_grad_(self, requires_grad)
        _guarded(_rec.on_param_attr, self, "requires_grad", requires_grad)
        return out

    Parameter.__setattr__ = param_setattr
    Parameter.requires_grad_ = param_requires_grad_

    try:
        from torch.nn.parallel import DistributedDataParallel as DDP
        ddp_init = DDP.__init__

        def ddp_wrapped_init(self, module, *a, **kw):
            ddp_init(self, module, *a, **kw)
            _rec.ddp.append({"rg": {id(p): bool(p.requires_grad) for p in module.parameters()}})

        DDP.__init__ = ddp_wrapped_init
    except Exception:  # pragma: no cover
        pass


def _guarded(fn, *args):
    """Runs a recording hook; an error in the oracle is reported, never raised into the script."""
    try:
        fn(*args)
    except Exception as e:
        _rec.internal_error(e)


def _trace_calls(frame, event, arg):
    # Trace lines only in the script's own frames: torch's Python code stays untraced.
    if event == "call" and _rec.is_script(frame.f_code.co_filename):
        return _trace_lines
    return None


def _trace_lines(frame, event, arg):
    if event == "line":
        _rec.executed.add(frame.f_lineno)
    return _trace_lines


def _wrap_step(cls):
    step = cls.step
    if getattr(step, "_freezelens_oracle", False):
        return

    def wrapped(self, *args, **kwargs):
        if _rec.in_step:
            return step(self, *args, **kwargs)
        _rec.in_step = True
        try:
            try:
                pre = _rec.before_step(self)
            except Exception as e:  # the oracle must not change the run; the error is reported
                _rec.internal_error(e)
                pre = None
            out = step(self, *args, **kwargs)
            if pre is not None:
                try:
                    _rec.after_step(self, pre)
                except Exception as e:
                    _rec.internal_error(e)
            return out
        finally:
            _rec.in_step = False

    wrapped._freezelens_oracle = True
    wrapped.hooked = True  # keep torch's profiler hook from wrapping us again
    wrapped.__name__ = getattr(step, "__name__", "step")
    wrapped.__doc__ = getattr(step, "__doc__", None)
    cls.step = wrapped


# ----- public API -----------------------------------------------------------------------------
def watch(model, label="model"):
    """Add a model to the ones discovered from the calling frames."""
    _rec.explicit_roots.append((label, _wrapped_module(model)))
    return model


def intended_frozen(model, prefixes):
    """Declare that params whose names start with one of ``prefixes`` are meant to be frozen."""
    for prefix in prefixes:
        _rec.intent_prefixes.append((prefix, f"declared {prefix}"))
    return model


def _read_directives(path):
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError:
        return
    for m in re.finditer(r"#\s*oracle:\s*intended-frozen\s+(.+)", text):
        for prefix in re.split(r"[,\s]+", m.group(1).strip()):
            if prefix:
                _rec.intent_prefixes.append((prefix, f"declared {prefix}"))


_NOTHING_TRAINABLE_ERRORS = ("does not require grad and does not have a grad_fn",
                             "empty parameter list")


def _record_exception(exc):
    line = None
    for fs in traceback.extract_tb(exc.__traceback__):
        if _rec.script and os.path.abspath(fs.filename) == _rec.script:
            line = fs.lineno
    _rec.exit = {"ok": False, "exception": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                 "line": line}
    msg = str(exc)
    if "does not require grad and does not have a grad_fn" in msg:
        _rec.add("nothing_trainable", ("backward",), {"kind": "backward", "line": line, "detail": msg.splitlines()[0],
                                                      "where": _rec.where(freeze=_rec.last_freeze)})


def report():
    """Write the report (once) to $FREEZELENS_ORACLE_OUT and print a one-line summary."""
    if _rec.finished:
        return None
    _rec.finished = True
    res = _rec.result()
    out = os.environ.get("FREEZELENS_ORACLE_OUT")
    if out:
        with open(out, "w", encoding="utf-8") as fh:
            json.dump(res, fh, indent=1, sort_keys=True)
    nonzero = " ".join(f"{k}={v}" for k, v in res["counts"].items() if v)
    print(f"freezelens-oracle: steps={res['steps']} {nonzero or 'no symptoms'}"
          + ("" if res["exit"]["ok"] else f" exit={res['exit']['exception']}"), flush=True)
    return res


def run_script(path, argv=()):
    """Run ``path`` as __main__ under the oracle; returns the process exit code."""
    _install()
    _rec.script = os.path.abspath(path)
    _read_directives(path)
    sys.argv = [path, *argv]
    sys.path.insert(0, os.path.dirname(_rec.script))
    code = 0
    sys.settrace(_trace_calls)
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if code:
            _rec.exit = {"ok": False, "exception": f"SystemExit: {e.code}", "line": None}
    except BaseException as e:  # noqa: BLE001 - recorded, then reported as a failure
        _record_exception(e)
        traceback.print_exc()
        code = 1
    finally:
        sys.settrace(None)
        try:
            import torch.distributed as dist
            if dist.is_available() and dist.is_initialized():
                dist.destroy_process_group()
        except Exception:
            pass
    report()
    return code


def _main():
    if len(sys.argv) < 2:
        print("usage: python3 -m freezelens_oracle script.py [args...]", file=sys.stderr)
        return 2
    return run_script(sys.argv[1], sys.argv[2:])


if __name__ == "__main__":
    # Run through the importable module so a script's own `import freezelens_oracle`
    # sees the same recorder.
    import freezelens_oracle as _self
    sys.exit(_self._main())
else:
    _install()
    _main_mod = sys.modules.get("__main__")
    _main_file = getattr(_main_mod, "__file__", None)
    if _rec.script is None and _main_file and os.path.basename(_main_file) != "__main__.py" \
            and os.path.abspath(_main_file) != _THIS_FILE:
        # Imported by a script run directly: report at exit.
        _rec.script = os.path.abspath(_main_file)
        _read_directives(_rec.script)
        _prev_hook = sys.excepthook

        def _hook(tp, val, tb):
            _record_exception(val)
            _prev_hook(tp, val, tb)

        sys.excepthook = _hook
        atexit.register(report)
        # Record executed lines from here on, in the importing frame too.
        sys.settrace(_trace_calls)
        _f = sys._getframe(0)
        while _f is not None:
            if _rec.is_script(_f.f_code.co_filename):
                _f.f_trace = _trace_lines
            _f = _f.f_back
