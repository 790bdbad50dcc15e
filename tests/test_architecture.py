"""The architecture, checked: rooms, the import rule, private names, function-level imports.

minidl's rooms, bottom to top: _matlab <- backend <- core <- ops <- layers <- networks <-
training, with data beside the stack (it may use core, backend and _matlab; layers, networks
and training may use it). An import may point down this list or stay in its room, never up; no
module imports another module's private (underscore) name; imports sit at the top of a module
except the few on ALLOWED_LATE below; the only import cycle between modules is the array and its
primitive arithmetic. docs/dev/contributing.md explains the map.

``violations(root)`` reads the source files only (nothing is imported), so the checks run the
same on any machine; the last tests run it on a small broken tree to show it can fail.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "minidl"

RANK = {"_matlab": 0, "backend": 1, "core": 2, "ops": 3, "layers": 4, "networks": 5,
        "training": 6}
DATA_USES = {"_matlab", "backend", "core"}  # the data room sits beside the stack
DATA_USERS = {"layers", "networks", "training"}
MAX_LINES = 700
ALLOWED_CYCLE = {"minidl.core.dlarray", "minidl.core.primitives"}

ALLOWED_LATE = {
    ("minidl.networks.network", "minidl.networks.summary"):
        "cycle: summary builds dlnetworks, and dlnetwork.summary() calls it",
    ("minidl.backend.arrays", "cupy"): "optional dependency, imported only when asked for",
    ("minidl.backend.arrays", "cupyx"): "optional dependency, imported only when asked for",
    ("minidl.backend.threads", "threadpoolctl"): "optional: without it BLAS is not capped",
    ("minidl.backend.mpi", "mpi4py"): "importing mpi4py initializes MPI: only when a launcher "
                                      "started the process (optional extra minidl[parallel])",
    ("minidl.backend.mpi", "threadpoolctl"): "optional: without it BLAS is not capped",
    ("minidl.networks.onnx", "minidl.networks.onnx.export"): "the ONNX code loads on first "
                                                             "use: import minidl stays light",
    ("minidl.networks.onnx", "minidl.networks.onnx.importer"): "the ONNX code loads on first "
                                                               "use (as above)",
    ("minidl.networks.onnx.common", "onnx"): "optional extra minidl[onnx]; import minidl "
                                             "stays free of it",
    ("minidl.networks.summary", "matplotlib"): "optional figure; import minidl stays light",
    ("minidl.data.datasets", "matplotlib"): "the digit renderer; import minidl stays light",
    ("minidl.data.datastore", "PIL"): "optional image decoder for JPEG files",
    ("minidl.training.confusion", "matplotlib"): "the chart's figure; import minidl stays light",
    ("minidl.training.figure", "matplotlib"): "the progress figure; import minidl stays light",
}
"""Function-level imports, each for a reason: (module, imported package or module) -> why.
A package covers its submodules (matplotlib covers matplotlib.pyplot)."""


def late_import_allowed(module: str, target: str) -> bool:
    return any(module == m and (target == t or target.startswith(t + "."))
               for m, t in ALLOWED_LATE)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module an ``from ... import`` statement reads from."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def bound_names(package_init: Path) -> set[str]:
    """The names a package's __init__.py binds (``from .dlarray import dlarray`` binds the
    class, which then hides the submodule of the same name)."""
    if not package_init.exists():
        return set()
    tree = ast.parse(package_init.read_text(encoding="utf-8"))
    return {a.asname or a.name for node in tree.body if isinstance(node, ast.ImportFrom)
            for a in node.names}


def imports(path: Path, root: Path) -> list[tuple[str, list[str], bool, int]]:
    """(imported module, names, at module level?, line) for every import of a file."""
    module = module_name(path, root)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in _module_level(tree.body)}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = resolve(node, module, path.name == "__init__.py")
            names = [a.name for a in node.names]
            folder = root.parent / target.replace(".", "/")
            hidden = bound_names(folder / "__init__.py")
            modules = [f"{target}.{n}" for n in names if n not in hidden
                       and ((folder / n).is_dir() or (folder / f"{n}.py").exists())]
            rest = [n for n in names if f"{target}.{n}" not in modules]
            if rest or not modules:
                out.append((target, rest, id(node) in top, node.lineno))
            out += [(m, [], id(node) in top, node.lineno) for m in modules]
        elif isinstance(node, ast.Import):
            out += [(a.name, [], id(node) in top, node.lineno) for a in node.names]
    return out


def _module_level(body: list) -> list:
    """The statements run at import: the module's own, and those inside its top-level ``try``
    and ``if`` blocks (an optional import such as ``try: import fcntl``)."""
    out = []
    for node in body:
        out.append(node)
        if isinstance(node, ast.Try):
            out += _module_level(node.body + node.orelse + node.finalbody
                                 + [s for h in node.handlers for s in h.body])
        elif isinstance(node, ast.If):
            out += _module_level(node.body + node.orelse)
    return out


def allowed(source_room: str | None, target_room: str | None) -> bool:
    if source_room is None or target_room is None or source_room == target_room:
        return True
    if target_room == "data":
        return source_room in DATA_USERS
    if source_room == "data":
        return target_room in DATA_USES
    return RANK[target_room] < RANK[source_room]


def violations(root: Path = PACKAGE) -> list[str]:
    """Every breach of the rules in the package at ``root``, one line each."""
    found, graph = [], {}
    files = sorted(root.rglob("*.py"))
    pkg = root.name
    for path in files:
        module = module_name(path, root)
        where = f"{path.relative_to(root.parent)}"
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            found.append(f"{where}: {lines} lines (at most {MAX_LINES})")
        if module == pkg:
            continue  # the flat namespace re-exports from every room
        if room(module) not in RANK and room(module) != "data":
            found.append(f"{where}: outside the rooms ({', '.join(RANK)}, data)")
        for target, names, at_top, line in imports(path, root):
            inside = target == pkg or target.startswith(pkg + ".")
            if not at_top and not late_import_allowed(module, target):
                found.append(f"{where}:{line}: function-level import of {target} (move it to "
                             "the top, or allow-list it in tests/test_architecture.py)")
            if not inside:
                continue
            if target == pkg:
                found.append(f"{where}:{line}: imports the flat namespace {pkg} (import from "
                             "the rooms instead)")
                continue
            if not allowed(room(module), room(target)):
                found.append(f"{where}:{line}: {room(module)} imports {target} "
                             f"({room(target)} is not below {room(module)})")
            if room(target) != room(module) and target.count(".") > 1:
                found.append(f"{where}:{line}: imports {target}: another room is imported "
                             f"through its package (from ..{room(target)} import ...)")
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private and target != module:
                found.append(f"{where}:{line}: imports private {', '.join(private)} from "
                             f"{target}")
            if at_top and target != module:
                graph.setdefault(module, set()).add(target)
        if module == f"{pkg}.core.tape" and graph.get(module):
            found.append(f"{where}: the tape imports {sorted(graph[module])}; it must import "
                         "nothing from minidl")
    found += [f"import cycle: {' <-> '.join(sorted(c))}" for c in _cycles(graph)
              if {m.replace(pkg, "minidl", 1) for m in c} != ALLOWED_CYCLE]
    return found


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack, on_stack, out = [], set(), []
    counter = 0
    for start in list(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(component)
    return out


def test_minidl_keeps_its_architecture():
    problems = violations()
    assert not problems, "\n".join(problems)


def test_the_rooms_are_folders_and_nothing_else_lives_at_the_top():
    top = sorted(p.name for p in PACKAGE.iterdir() if p.name != "__pycache__")
    assert top == sorted(["__init__.py", *RANK, "data"])


def test_every_late_import_on_the_allow_list_gives_its_reason_and_is_needed():
    assert all(isinstance(why, str) and len(why) > 10 for why in ALLOWED_LATE.values())
    late = {(module_name(path, PACKAGE), target) for path in PACKAGE.rglob("*.py")
            for target, _, at_top, _ in imports(path, PACKAGE) if not at_top}
    unused = [key for key in ALLOWED_LATE
              if not any(m == key[0] and (t == key[1] or t.startswith(key[1] + "."))
                         for m, t in late)]
    assert not unused, f"allow-list entries no module needs any more: {unused}"


# ---- the checker can fail: a small broken package ---------------------------------------------

def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "minidl"
    for name, text in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for folder in {p.parent for p in root.rglob("*.py")} - {root}:
        (folder / "__init__.py").touch()
    return root


@pytest.mark.parametrize("files, expected", [
    ({"core/dlarray.py": "from ..training.trainnet import trainnet\n",
      "training/trainnet.py": "trainnet = 1\n"}, "core imports minidl.training.trainnet"),
    ({"data/observations.py": "from ..layers.base import Layer\n",
      "layers/base.py": "Layer = 1\n"}, "data imports minidl.layers.base"),
    ({"ops/nn.py": "from .conv import _im2col\n", "ops/conv.py": "_im2col = 1\n"},
     "imports private _im2col"),
    ({"ops/nn.py": "def f():\n    from .conv import dlconv\n", "ops/conv.py": "dlconv = 1\n"},
     "function-level import of minidl.ops.conv"),
    ({"layers/a.py": "from .b import x\ny = 1\n", "layers/b.py": "from .a import y\nx = 1\n"},
     "import cycle: minidl.layers.a <-> minidl.layers.b"),
    ({"core/tape.py": "from ..backend import arrays\n", "backend/arrays.py": ""},
     "the tape imports"),
    ({"helpers.py": "x = 1\n"}, "outside the rooms"),
    ({"networks/onnx.py": "import minidl as dl\n"}, "imports the flat namespace"),
    ({"ops/nn.py": "from ..core.dlarray import dlarray\n", "core/dlarray.py": "dlarray = 1\n"},
     "another room is imported through its package"),
    ({"ops/long.py": "x = 1\n" * (MAX_LINES + 1)}, f"{MAX_LINES + 1} lines"),
])
def test_the_checker_finds_each_kind_of_breach(tmp_path, files, expected):
    problems = violations(_package(tmp_path, files))
    assert any(expected in p for p in problems), problems


def test_the_checker_passes_a_tidy_package(tmp_path):
    root = _package(tmp_path, {
        "backend/__init__.py": "from .arrays import array_module\n",
        "backend/arrays.py": "import numpy\narray_module = numpy\n",
        "core/__init__.py": "from .dlarray import dlarray\n",
        "core/dlarray.py": "from ..backend import array_module\nfrom . import primitives\n",
        "core/primitives.py": "from .dlarray import dlarray\n",
        "data/__init__.py": "from .labels import one_hot\n",
        "data/labels.py": "from ..core import dlarray\n",
        "ops/__init__.py": "from .nn import softmax\n",
        "ops/nn.py": "from ..core import dlarray\n",
        "training/loop.py": "from ..data import one_hot\nfrom ..ops import softmax\n",
    })
    assert violations(root) == []
