"""FreezeLens model-tree oracle: build a user-defined model with real PyTorch
and print its module tree with exact parameter counts, in the format of
``freezelens models FILE --call CALL --format json``.

Usage (what test/oracle/models.test.mjs does):

    python3 test/oracle/model_tree.py FILE.py 'Net(num_classes=7)' ['Other()' ...]
    python3 test/oracle/model_tree.py FILE.py            # every call the file names
    python3 test/oracle/model_tree.py --table FILE.py [CALL ...]

FILE is imported as a module named after its stem, with its folder as the
working directory and first on sys.path (so ``from blocks import X`` finds the
sibling file ``blocks.py``), plus every ``# oracle-path: DIR`` the file names
(relative to its folder: packages that stand in for third-party code outside
the import root). Each CALL is then evaluated in the module's namespace, as if
``__freezelens_model__ = CALL`` were appended to the file, after
``torch.manual_seed(0)``.

Without CALLs, the file's own header comments are used:

    # oracle: Net(num_classes=7)          the static result must match exactly
    # oracle-unknown: Net(load_cfg(...))  the static result cannot be fully known

Output: one line of JSON per call, in call order:

    {"models":[{"name": CALL, "source": "class", "call": CALL,
                "totalParams": N, "trainableParams": N,
                "root": {"path": "", "class": "Net", "params": N, "buffers": N,
                         "children": [{"path": "encoder", ...}, ...]}}]}

where the tree is ``model.named_modules()`` (shared modules listed once, at
their first path; children in registration order), ``params`` / ``buffers``
are a module's own counts (``recurse=False``), ``totalParams`` counts
``model.parameters()`` (tied weights once) and ``trainableParams`` those of
them with ``requires_grad``. A call that raises prints
``{"call": CALL, "error": "..."}`` instead, and the exit status is then 1.
With ``--table``, a human-readable table of the totals is printed instead.

Needs only torch (and torchvision for fixtures that use it). Run it with
OMP_NUM_THREADS=2; nothing here touches the network (torchvision models are
built with ``weights=None``, and sockets are refused).
"""
import contextlib
import importlib.util
import json
import os
import re
import socket
import sys
import traceback

DIRECTIVE = re.compile(r"^#\s*(oracle|oracle-unknown|oracle-path):\s*(.+?)\s*$")


def directives(path):
    """[(kind, text)] for every `# oracle:`, `# oracle-unknown:`, `# oracle-path:` line, in order."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = DIRECTIVE.match(line)
            if m:
                out.append((m.group(1), m.group(2)))
    return out


def _no_network(*_args, **_kwargs):
    raise OSError("model_tree.py: network access is disabled")


def load_module(path):
    path = os.path.abspath(path)
    folder = os.path.dirname(path)
    os.chdir(folder)
    extra = [os.path.join(folder, d) for kind, d in directives(path) if kind == "oracle-path"]
    sys.path[:0] = [folder] + extra
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    # Registered under its own name, so that a sibling importing it gets this module.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def numel(tensors):
    return sum(t.numel() for t in tensors)


def module_tree(model):
    """The tree of named_modules(): each node's own param / buffer numel, children in order."""
    nodes = {}
    root = None
    for path, m in model.named_modules():
        node = {
            "path": path,
            "class": type(m).__name__,
            "params": numel(m.parameters(recurse=False)),
            "buffers": numel(m.buffers(recurse=False)),
            "children": [],
        }
        if path == "":
            root = node
        else:
            # named_modules() is a pre-order walk: the parent is already there.
            nodes[path.rpartition(".")[0]]["children"].append(node)
        nodes[path] = node
    return root


def describe(model, call):
    import torch

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{call} built a {type(model).__name__}, not an nn.Module")
    params = list(model.parameters())
    return {
        "models": [
            {
                "name": call,
                "source": "class",
                "call": call,
                "totalParams": numel(params),
                "trainableParams": numel(p for p in params if p.requires_grad),
                "root": module_tree(model),
            }
        ]
    }


def build(module, call):
    import torch

    torch.manual_seed(0)
    # Fixture code may print: keep stdout for the JSON lines.
    with contextlib.redirect_stdout(sys.stderr):
        model = eval(compile(call, f"<call {call}>", "eval"), vars(module))
    return describe(model, call)


def table(rows):
    lines = [f"{'call':<72} {'total':>12} {'trainable':>12} {'modules':>8}"]
    for call, res in rows:
        if "error" in res:
            lines.append(f"{call:<72} ERROR {res['error']}")
            continue
        m = res["models"][0]
        count = 0
        stack = [m["root"]]
        while stack:
            node = stack.pop()
            count += 1
            stack.extend(node["children"])
        lines.append(f"{call:<72} {m['totalParams']:>12,} {m['trainableParams']:>12,} {count:>8}")
    return "\n".join(lines)


def main(argv):
    as_table = False
    if argv and argv[0] == "--table":
        as_table, argv = True, argv[1:]
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip().split("\n\n")[1])
        return 0 if argv else 2
    path, calls = argv[0], argv[1:]
    if not calls:
        calls = [text for kind, text in directives(path) if kind in ("oracle", "oracle-unknown")]
    socket.socket.connect = _no_network
    socket.create_connection = _no_network
    sys.dont_write_bytecode = True  # no __pycache__ in the fixture folder
    module = load_module(path)
    failed = False
    rows = []
    for call in calls:
        try:
            res = build(module, call)
        except Exception as e:  # noqa: BLE001 - reported per call
            failed = True
            tb = traceback.format_exception(type(e), e, e.__traceback__)
            res = {"call": call, "error": f"{type(e).__name__}: {e}", "traceback": "".join(tb[-6:])}
        rows.append((call, res))
        if not as_table:
            sys.stdout.write(json.dumps(res, separators=(",", ":")) + "\n")
            sys.stdout.flush()
    if as_table:
        print(f"{os.path.basename(path)}")
        print(table(rows))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
