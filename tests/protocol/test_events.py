"""Events whose `__init__` is written out (`init=False`, for the compiled build) take exactly
their dataclass fields: the same names, keyword-only, the same defaults."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from mysqlwire import native
from mysqlwire.protocol import events
from mysqlwire.protocol.statements import PreparedStatement

WRITTEN_OUT = [
    cls
    for cls in vars(events).values()
    if isinstance(cls, type) and issubclass(cls, events.Event) and not cls.__dataclass_params__.init  # type: ignore[attr-defined]
]


def test_the_hot_events_are_among_them():
    assert {events.Command, events.CommandFinished} <= set(WRITTEN_OUT)


@pytest.mark.skipif(
    native.COMPILED, reason="a compiled __init__ shows no signature; the pure run reads it"
)
@pytest.mark.parametrize("cls", WRITTEN_OUT, ids=lambda cls: cls.__name__)
def test_a_written_init_takes_the_fields_by_name_with_their_defaults(cls):
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    fields = dataclasses.fields(cls)
    assert [p.name for p in parameters] == [f.name for f in fields]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters)
    for parameter, each in zip(parameters, fields, strict=True):
        if each.default is not dataclasses.MISSING:
            assert parameter.default == each.default, each.name
        elif each.default_factory is not dataclasses.MISSING:
            # None stands for "a new one": the factory's value when left out
            assert parameter.default is None, each.name
        else:
            assert parameter.default is inspect.Parameter.empty, each.name


def distinct_value(annotation: object, number: int) -> object:
    """A value of the field's type (the compiled build checks them), different for each. (The
    annotation is a string in the sources, a type in the compiled build.)"""
    if not isinstance(annotation, str):
        annotation = annotation.__name__ if isinstance(annotation, type) else str(annotation)
    kind = annotation.split(" | ")[0]
    if kind == "int":
        return number
    if kind == "float":
        return number + 0.5
    if kind == "type":  # the compiled build records `X | None` so, without X: None fits
        return None
    if kind == "str":
        return f"value {number}"
    if kind.startswith("dict"):
        return {"key": number}
    raise AssertionError(f"no value for {annotation}")


@pytest.mark.parametrize("cls", WRITTEN_OUT, ids=lambda cls: cls.__name__)
def test_a_written_init_sets_every_field_and_fills_the_defaults(cls):
    fields = dataclasses.fields(cls)
    given = {each.name: distinct_value(each.type, n) for n, each in enumerate(fields)}
    made = cls(**given)
    assert {each.name: getattr(made, each.name) for each in fields} == given
    required = {
        each.name: given[each.name]
        for each in fields
        if each.default is dataclasses.MISSING and each.default_factory is dataclasses.MISSING
    }
    bare = cls(**required)
    for each in fields:
        if each.default is not dataclasses.MISSING:
            assert getattr(bare, each.name) == each.default
        elif each.default_factory is not dataclasses.MISSING:
            assert getattr(bare, each.name) == each.default_factory()


@pytest.mark.skipif(
    native.COMPILED, reason="a compiled __init__ shows no signature; the pure run reads it"
)
def test_the_written_prepared_statement_init_takes_its_fields_in_order():
    parameters = list(inspect.signature(PreparedStatement.__init__).parameters.values())[1:]
    fields = dataclasses.fields(PreparedStatement)
    assert [p.name for p in parameters] == [f.name for f in fields]
    for parameter, each in zip(parameters, fields, strict=True):
        expected = inspect.Parameter.empty
        if each.default_factory is not dataclasses.MISSING:
            expected = None  # a new one of its own
        assert parameter.default == expected, each.name


def test_a_prepared_statement_gets_type_lists_of_its_own():
    first, second = PreparedStatement(1, None, 2, 3), PreparedStatement(7, "select ?", 1, 0)
    assert (first.statement_id, first.query, first.params, first.columns) == (1, None, 2, 3)
    assert first.param_types == [] and first.column_types == []
    first.param_types.append((3, False))
    assert second.param_types == [] and second.query == "select ?"
    given = PreparedStatement(2, "q", 1, 1, [(253, False)], [8])
    assert (given.param_types, given.column_types) == ([(253, False)], [8])
