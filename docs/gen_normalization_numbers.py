"""Rewrite the tour's numbers in docs/normalization.md from docs/normalization_numbers.json.

Every number on the page that the tour computes is written with a marker right after it,
``99.47<!--n:training.batch.test-->`` (an HTML comment, invisible when rendered). This script
replaces each marked number by the JSON's value under that name, keeping how the page shows it
(the same number of decimals, an exponent if it had one, thousands separators if it had them).

    python examples/normalization_tour.py --update-docs     # new figures and numbers
    python docs/gen_normalization_numbers.py                # the page shows them
    python docs/gen_normalization_numbers.py --check        # exit 1 if the page disagrees

Sentences that interpret numbers still need a reader: look at what changed (git diff).
tests/test_normalization_page.py runs the check.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "normalization.md"
NUMBERS = ROOT / "docs" / "normalization_numbers.json"

#: a number (optionally negative, with thousands separators, decimals and an exponent), an
#: optional percent sign, and the marker naming it
MARKED = re.compile(r"(?P<num>-?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?)(?P<pct>%?)"
                    r"<!--n:(?P<key>[\w.\-]+)-->")


def marked_numbers(text: str) -> list[tuple[str, str]]:
    """(number as shown, name) for every marked number of a page, in order."""
    return [(m.group("num"), m.group("key")) for m in MARKED.finditer(text)]


def _digits(shown: str) -> tuple[int, int]:
    """(decimals of the mantissa, exponent) of a number as shown."""
    mantissa, _, exponent = shown.replace(",", "").partition("e")
    return len(mantissa.partition(".")[2]), int(exponent or 0)


def shown_matches(shown: str, value: float) -> bool:
    """True when ``value`` rounds to ``shown``: within half a unit of its last digit."""
    decimals, exponent = _digits(shown)
    unit = 10.0 ** (exponent - decimals)
    return abs(float(shown.replace(",", "")) - value) <= unit / 2 + 1e-9 * abs(value)


def format_like(shown: str, value: float) -> str:
    """``value`` written the way ``shown`` is: the same decimals, exponent style, separators."""
    decimals, _ = _digits(shown)
    if "e" in shown:
        return f"{value:.{decimals}e}"
    return f"{value:,.{decimals}f}" if "," in shown else f"{value:.{decimals}f}"


def rewrite(text: str, numbers: dict[str, float]) -> tuple[str, list[str]]:
    """The page with every marked number replaced; and the names the JSON lacks."""
    missing = []

    def replace(m: re.Match) -> str:
        key = m.group("key")
        if key not in numbers:
            missing.append(key)
            return m.group(0)
        shown = m.group("num")
        new = shown if shown_matches(shown, numbers[key]) else format_like(shown, numbers[key])
        return f"{new}{m.group('pct')}<!--n:{key}-->"

    return MARKED.sub(replace, text), missing


def main(argv: list[str]) -> int:
    numbers = json.loads(NUMBERS.read_text(encoding="utf-8"))
    text = PAGE.read_text(encoding="utf-8")
    new, missing = rewrite(text, numbers)
    unused = sorted(set(numbers) - {key for _, key in marked_numbers(text)})
    for key in missing:
        print(f"docs/normalization.md marks {key!r}, which the tour does not write")
    for key in unused:
        print(f"the tour writes {key!r}, which docs/normalization.md does not show")
    if "--check" in argv:
        changed = new != text
        if changed:
            print("docs/normalization.md disagrees with docs/normalization_numbers.json: run "
                  "python docs/gen_normalization_numbers.py")
        return 1 if changed or missing or unused else 0
    if new != text:
        tmp = PAGE.with_name(PAGE.name + ".tmp")
        tmp.write_text(new, encoding="utf-8")
        tmp.replace(PAGE)
        print(f"updated {PAGE.relative_to(ROOT)}")
    return 1 if missing or unused else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
