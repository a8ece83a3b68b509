"""Check that a set of tables holds the deskkit schema, reporting every problem at once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ibis.expr.schema import Schema

from deskkit.store.schema import SCHEMA, is_compatible

__all__ = ["SchemaError", "SchemaIssue", "check_schema"]


@dataclass(frozen=True)
class SchemaIssue:
    """One problem: a missing table, a missing column or a column of the wrong type."""

    table: str
    column: str | None
    problem: str

    def __str__(self) -> str:
        where = self.table if self.column is None else f"{self.table}.{self.column}"
        return f"{where}: {self.problem}"


class SchemaError(ValueError):
    """The store does not hold the deskkit schema; ``issues`` lists every problem."""

    def __init__(self, source: str, issues: list[SchemaIssue]) -> None:
        self.source = source
        self.issues = issues
        lines = "\n".join(f"  - {issue}" for issue in issues)
        super().__init__(
            f"{source} is not a valid deskkit store ({len(issues)} problem"
            f"{'s' if len(issues) != 1 else ''}):\n{lines}"
        )


def check_schema(found: Mapping[str, Schema]) -> list[SchemaIssue]:
    """Compare the schemas of the tables ``found`` (name -> schema) with the deskkit schema."""
    issues: list[SchemaIssue] = []
    for table, expected in SCHEMA.items():
        actual = found.get(table)
        if actual is None:
            issues.append(SchemaIssue(table, None, "missing table"))
            continue
        for column, dtype in expected.items():
            if column not in actual:
                issues.append(SchemaIssue(table, column, f"missing column (expected {dtype})"))
            elif not is_compatible(dtype, actual[column]):
                issues.append(
                    SchemaIssue(table, column, f"wrong type {actual[column]} (expected {dtype})")
                )
    return issues
