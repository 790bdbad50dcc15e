"""docs/normalization.md quotes numbers that the tour computes, and cannot drift from them.

Every number on the page that comes from examples/normalization_tour.py is written with a marker
right after it, ``99.47<!--n:training.batch.test-->`` (an HTML comment: invisible when the page is
rendered). The full tour (``python examples/normalization_tour.py --update-docs``) writes each such
number under its name to docs/normalization_numbers.json. These tests check that

* every marked number on the page equals the committed JSON's value to the digits shown,
* the page marks exactly the numbers the JSON holds (no stale or forgotten ones), and
* the tour, run here in --fast mode (seconds, tiny data: its values mean nothing), still writes
  exactly those names, to out/ and not into docs/, so the committed JSON matches today's code.

After changing the tour or the code it measures, run the full tour with --update-docs and update
the page where a test names a number.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import runpy
import sys
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "normalization.md"
NUMBERS = ROOT / "docs" / "normalization_numbers.json"
TOUR = ROOT / "examples" / "normalization_tour.py"



def _generator():
    """docs/gen_normalization_numbers.py, which parses, checks and rewrites the markers."""
    spec = importlib.util.spec_from_file_location("gen_normalization_numbers",
                                                  ROOT / "docs" / "gen_normalization_numbers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _generator()
marked_numbers, shown_matches = GEN.marked_numbers, GEN.shown_matches


def test_the_marker_parser_and_the_rounding_rule():
    text = ("| 99.47<!--n:a.b--> | -0.516<!--n:c--> | 3.7e-07<!--n:d--> | 73,728<!--n:e--> | "
            "12%<!--n:f--> | 9.99 |")
    assert marked_numbers(text) == [("99.47", "a.b"), ("-0.516", "c"), ("3.7e-07", "d"),
                                    ("73,728", "e"), ("12", "f")]
    assert shown_matches("99.47", 99.4666) and not shown_matches("99.47", 99.4649)
    assert shown_matches("3.7e-07", 3.74e-7) and not shown_matches("3.7e-07", 3.76e-7)
    assert shown_matches("73,728", 73728.0) and not shown_matches("73,728", 73729.0)
    assert shown_matches("0", 0.4) and not shown_matches("0", 0.6)
    # rewriting keeps the style shown: decimals, exponent, separators, the percent sign
    new, missing = GEN.rewrite(text, {"a.b": 98.123, "c": -0.51649, "d": 4.04e-6, "e": 1234567,
                                      "f": 7.6})
    assert new.startswith("| 98.12<!--n:a.b--> | -0.516<!--n:c--> | 4.0e-06<!--n:d--> | "
                          "1,234,567<!--n:e--> | 8%<!--n:f--> |") and missing == []
    assert GEN.rewrite("1.5<!--n:zz-->", {})[1] == ["zz"]


def committed() -> dict[str, float]:
    return json.loads(NUMBERS.read_text(encoding="utf-8"))


def test_every_number_on_the_page_matches_the_committed_numbers():
    numbers = committed()
    marked = marked_numbers(PAGE.read_text(encoding="utf-8"))
    assert len(marked) > 100
    wrong = [f"{key}: the page shows {shown}, the tour computed {numbers[key]!r}"
             for shown, key in marked if key in numbers and not shown_matches(shown, numbers[key])]
    assert not wrong, "docs/normalization.md disagrees with docs/normalization_numbers.json:\n" \
        + "\n".join(wrong)


def test_the_generator_has_nothing_to_change():
    text = PAGE.read_text(encoding="utf-8")
    assert GEN.rewrite(text, committed()) == (text, [])


def test_the_page_marks_exactly_the_numbers_the_tour_writes():
    on_page = {key for _, key in marked_numbers(PAGE.read_text(encoding="utf-8"))}
    in_json = set(committed())
    assert not on_page - in_json, f"the page marks numbers the tour does not write: " \
        f"{sorted(on_page - in_json)}"
    assert not in_json - on_page, f"the tour writes numbers the page does not show: " \
        f"{sorted(in_json - on_page)}"
    assert all(isinstance(v, float) and math.isfinite(v) for v in committed().values())


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    """The tour in --fast mode, in an empty working directory: (its folder, printed text)."""
    import matplotlib.pyplot as plt

    import minidl as dl
    import minidl.backend

    work = tmp_path_factory.mktemp("tour")
    before = {p: p.stat().st_mtime_ns for p in (ROOT / "docs").rglob("*") if p.is_file()}
    cwd, argv = os.getcwd(), sys.argv
    state = minidl.backend.generator().bit_generator.state  # the tour reseeds: put it back
    try:
        os.chdir(work)
        sys.argv = [str(TOUR), "--fast"]
        from contextlib import redirect_stdout
        from io import StringIO

        out = StringIO()
        with redirect_stdout(out):
            runpy.run_path(str(TOUR), run_name="__main__")
    finally:
        os.chdir(cwd)
        sys.argv = argv
        minidl.backend.generator().bit_generator.state = state
        plt.close("all")
        dl.use_backend("numpy")
    after = {p: p.stat().st_mtime_ns for p in (ROOT / "docs").rglob("*") if p.is_file()}
    assert after == before, "the tour without --update-docs changed files under docs/"
    return work / "out" / "normalization_tour", out.getvalue()


def test_the_fast_tour_writes_the_same_numbers_to_out(fast_run):
    folder, text = fast_run
    numbers = json.loads((folder / "normalization_numbers.json").read_text(encoding="utf-8"))
    assert set(numbers) == set(committed()), (
        "the tour's numbers changed names: run python examples/normalization_tour.py "
        "--update-docs and update docs/normalization.md")
    assert all(math.isfinite(v) for v in numbers.values())
    for name in ("sharing", "statistics", "training", "small_batch"):
        assert (folder / f"normalization_{name}.png").is_file()
    assert "numbers: out/normalization_tour/normalization_numbers.json" in text


def test_the_fast_tour_prints_raw_gradient_errors(fast_run):
    _, text = fast_run
    errors = [float(e) for e in re.findall(r"gradcheck .* worst relative error (\S+)", text)]
    assert len(errors) == 4
    # raw central-difference errors: round-off makes them positive, and they are small
    assert all(0 < e < 1e-6 for e in errors)


def test_update_docs_refuses_the_fast_mode(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(TOUR), "--fast", "--update-docs"])
    with pytest.raises(SystemExit, match="--update-docs needs the full run"):
        runpy.run_path(str(TOUR), run_name="__main__")
