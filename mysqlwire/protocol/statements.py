"""Prepared statements of one connection, as COM_STMT_PREPARE_OK announced them.

The binary protocol cannot be read without them: COM_STMT_EXECUTE's parameters need the
parameter count from the prepare, and types a client bound on an earlier execute. The table is
bounded (a client that prepares forever without closing must not grow our memory); the oldest
statements are forgotten first.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from mysqlwire.protocol.events import reduce_by_keywords

DEFAULT_STATEMENT_CAP = 4096


@dataclass(slots=True, init=False)
class PreparedStatement:
    statement_id: int
    query: str | None
    params: int
    columns: int
    param_types: list[tuple[int, bool]] = field(default_factory=list)
    column_types: list[int] = field(default_factory=list)

    # Written out: one is made for every prepare, and the compiled build runs the __init__
    # that `dataclasses` generates as Python (tests/protocol/test_events.py holds it to the
    # fields).
    def __init__(
        self,
        statement_id: int,
        query: str | None,
        params: int,
        columns: int,
        param_types: list[tuple[int, bool]] | None = None,
        column_types: list[int] | None = None,
    ) -> None:
        self.statement_id = statement_id
        self.query = query
        self.params = params
        self.columns = columns
        self.param_types = [] if param_types is None else param_types
        self.column_types = [] if column_types is None else column_types

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return reduce_by_keywords(self)


class StatementTable:
    __slots__ = ("_by_id", "cap", "forgotten")

    def __init__(self, cap: int = DEFAULT_STATEMENT_CAP) -> None:
        self._by_id: OrderedDict[int, PreparedStatement] = OrderedDict()
        self.cap = cap
        self.forgotten = 0

    def add(self, statement: PreparedStatement) -> None:
        self._by_id[statement.statement_id] = statement
        self._by_id.move_to_end(statement.statement_id)
        while len(self._by_id) > self.cap:
            self._by_id.popitem(last=False)
            self.forgotten += 1

    def get(self, statement_id: int) -> PreparedStatement | None:
        if statement_id == 0xFFFFFFFF and self._by_id:  # MariaDB: "the last one prepared"
            return next(reversed(self._by_id.values()))
        return self._by_id.get(statement_id)

    def query_of(self, statement_id: int) -> str | None:
        statement = self.get(statement_id)
        return statement.query if statement is not None else None

    def close(self, statement_id: int) -> None:
        self._by_id.pop(statement_id, None)

    def clear(self) -> None:
        """COM_CHANGE_USER and COM_RESET_CONNECTION drop every statement."""
        self._by_id.clear()

    def __len__(self) -> int:
        return len(self._by_id)
