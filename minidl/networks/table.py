"""``Table``: the small MATLAB-style table behind ``net.Learnables``, ``net.State`` and
``net.Connections``, printed as MATLAB prints tables."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from .._matlab import size_str
from ..core import dlarray

__all__ = ["Table", "CellStr"]


class Table:
    """A small MATLAB-style table: named columns of equal length, printed like MATLAB's tables.

    Columns read as attributes (``t.Layer``, ``t.Parameter``, ``t.Value`` are lists); iterating
    gives row tuples; ``len(t)`` is the number of rows. A table with a Value column is a tree
    container for autodiff: its leaves are the Value dlarrays, in row order (empty values skipped).
    """

    def __init__(self, columns: dict[str, Sequence[Any]]) -> None:
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"Table columns must have equal lengths, got {sorted(lengths)}")
        self._columns = {name: list(values) for name, values in columns.items()}

    def __getattr__(self, name: str) -> list:
        columns = self.__dict__.get("_columns", {})
        if name in columns:
            return list(columns[name])
        raise AttributeError(f"Table has no column '{name}'; its columns are "
                             f"{', '.join(columns) or 'none'}")

    def __len__(self) -> int:
        return len(next(iter(self._columns.values()), []))

    def __iter__(self) -> Iterator[tuple]:
        return iter(zip(*self._columns.values()))

    def __getitem__(self, i: int) -> tuple:
        return tuple(col[i] for col in self._columns.values())

    @property
    def VariableNames(self) -> list[str]:
        return list(self._columns)

    def with_values(self, values: Sequence[Any]) -> Table:
        """The same table with the Value column replaced (one value per row)."""
        values = list(values)
        if len(values) != len(self):
            raise ValueError(f"with_values: the table has {len(self)} rows but {len(values)} "
                             "values were given")
        return Table({**self._columns, "Value": values})

    def _tree_flatten(self) -> tuple[list, Any]:
        values = self._columns.get("Value", [])
        where = [i for i, v in enumerate(values) if isinstance(v, dlarray)]

        def rebuild(leaves: list) -> Table:
            new = list(values)
            for i, leaf in zip(where, leaves):
                new[i] = leaf
            return self.with_values(new)

        return [values[i] for i in where], rebuild

    def __repr__(self) -> str:
        n, m = len(self), len(self._columns)
        if n == 0:
            return f"  0x{m} empty table"
        cells = {name: _cells(col) for name, col in self._columns.items()}
        widths = {name: max(len(name), *map(len, col)) for name, col in cells.items()}
        header = "    ".join(f"{' ' * ((widths[k] - len(k)) // 2)}{k}".ljust(widths[k])
                           for k in cells)
        rule = "    ".join("_" * w for w in widths.values())
        rows = ["    ".join(c.ljust(widths[k]) for k, c in zip(cells, row))
                for row in zip(*cells.values())]
        lines = [f"  {n}x{m} table", "", header, rule, *rows]
        return "\n".join(("    " + line).rstrip() if i > 1 else line
                         for i, line in enumerate(lines))


class CellStr(str):
    """A str that a MATLAB table holds as a character vector in a cell, shown ``{'conv'}`` (as
    the Source and Destination columns of ``net.Connections``)."""


def _cells(column: Sequence[Any]) -> list[str]:
    """A column's cells as text; a column of CellStr pads inside the braces, as MATLAB does."""
    if column and all(isinstance(v, CellStr) for v in column):
        width = max(len(v) for v in column)
        return ["{'" + v + "'" + " " * (width - len(v)) + "}" for v in column]
    return [_cell(v) for v in column]


def _cell(v: Any) -> str:
    if isinstance(v, str):
        return f'"{v}"'
    if v is None:
        return "{0x0 double}"
    if isinstance(v, dlarray):
        return f"{{{size_str(v.shape)} dlarray}}"
    return str(v)
