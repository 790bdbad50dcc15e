"""The documentation runs: every ```python block in docs/ and README.md, the images, the API list.

Each Markdown file's ```python blocks run in order in one namespace (a later block may use what an
earlier one defined), in a fresh temporary working directory. A block that is not meant to run is
fenced as ```text (or any other language). Doc snippets use small data so the whole file is fast.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.S | re.M)
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
MAX_IMAGE_BYTES = 200 * 1024


def code_blocks(path: Path, language: str = "python") -> list[tuple[int, str]]:
    """(first line number, source) of each fenced block of ``language`` in a Markdown file."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start(2)) + 1, m.group(2))
            for m in FENCE.finditer(text) if m.group(1).strip().lower() == language]


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


RUNNABLE = [p for p in DOCS if p.exists() and code_blocks(p)]
OPTIONAL = ("onnx", "onnxruntime", "mpi4py")


@pytest.mark.parametrize("path", RUNNABLE, ids=_name)
def test_python_blocks_run(path, tmp_path, monkeypatch, capsys):
    import matplotlib.pyplot as plt

    import minidl

    for module in OPTIONAL:  # a page about an optional extra runs where the extra is installed
        if re.search(rf"^\s*(import|from) {module}\b", path.read_text(encoding="utf-8"), re.M):
            pytest.importorskip(module, reason=f"{_name(path)} needs the optional {module} "
                                               "(in the dev extra; not in make test-oldest)")
    monkeypatch.chdir(tmp_path)
    minidl.rng(0)
    namespace = {"__name__": "__docs__"}
    try:
        for line, source in code_blocks(path):
            code = compile(source, f"{_name(path)}:{line}", "exec")
            try:
                exec(code, namespace)
            except Exception as err:
                pytest.fail(f"the ```python block at {_name(path)} line {line} failed: "
                            f"{type(err).__name__}: {err}")
    finally:
        plt.close("all")
        minidl.use_backend("numpy")


def test_the_fence_parser_finds_blocks_and_skips_text_blocks(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# t\n\n```python\nx = 1\n```\n\n```text\nnot run\n```\n\n"
                    "```python\ny = x + 1\n```\n", encoding="utf-8")
    assert code_blocks(page) == [(4, "x = 1\n"), (12, "y = x + 1\n")]


@pytest.mark.parametrize("path", [p for p in DOCS if p.exists()], ids=_name)
def test_images_exist_and_are_small(path):
    for target in IMAGE.findall(path.read_text(encoding="utf-8")):
        if "://" in target:
            continue
        image = (path.parent / target).resolve()
        assert image.is_file(), f"{_name(path)} shows {target}, which does not exist"
        size = image.stat().st_size
        assert size < MAX_IMAGE_BYTES, f"{target} is {size // 1024} KB (keep images < 200 KB)"


@pytest.mark.parametrize("path", [p for p in DOCS if p.exists()], ids=_name)
def test_relative_links_resolve(path):
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        if "://" in target or target.startswith(("#", "mailto:")):
            continue
        file = (path.parent / target.split("#")[0]).resolve()
        assert file.exists(), f"{_name(path)} links to {target}, which does not exist"


def _api_generator():
    spec = importlib.util.spec_from_file_location("gen_api", ROOT / "docs" / "gen_api.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_reference_lists_every_public_name_with_its_docstring():
    import minidl

    gen = _api_generator()
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    listed = gen.listed_names(text)
    missing = sorted(set(minidl.__all__) - set(listed))
    extra = sorted(set(listed) - set(minidl.__all__))
    assert not missing, f"docs/api.md misses {missing}: run python docs/gen_api.py"
    assert not extra, (f"docs/api.md lists {extra}, which are not in minidl.__all__: "
                       "run python docs/gen_api.py")
    assert text == gen.render(), ("docs/api.md is out of date with the docstrings: "
                                  "run python docs/gen_api.py")
