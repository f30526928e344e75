"""GraphQL execution with a fast path for plain fields.

graphql-core runs the same machinery for every field of a response: a path entry, a resolve
info, the resolver call, then `complete_value`'s type dispatch. For a page of 50 alerts with
their rule hits and signals that is ~3,000 fields and most of the page's CPU, although nearly
all of them only read an attribute of an object the resolver already built.

`FastExecutionContext` plans each selection set once per request: a field whose Strawberry
definition is "basic" (no resolver, no extension, no permission), takes no arguments and whose
type is a scalar, an enum, a plain object type (all of its selected fields such fields again) or
a list or non-null of those, is read with `getattr` and coerced directly, with the same coercion
graphql-core applies (`coerce_output_value`). Every other field goes through graphql-core as
before. The result is the same: whenever a fast read meets anything it does not expect (a null
in a non-null position, a value that does not coerce, an attribute that raises), that field is
executed again the ordinary way, which produces the ordinary located error; so is a value
graphql-core treats specially (an awaitable, an Exception; Undefined reads as null, as there).
Selection sets under `@defer` (incremental delivery, off in riskops), and schemas with
resolve-hook extensions, always take the ordinary path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from inspect import isawaitable
from typing import Any

from graphql.execution.collect_fields import FieldDetails
from graphql.pyutils import Path, Undefined, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from graphql import (
    GraphQLObjectType,
    GraphQLOutputType,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
)

_DEFINITION = "strawberry-definition"


class _Slow(Exception):
    """A fast read met something it does not handle: execute the field the ordinary way.
    Raised as a new instance each time: re-raising one shared instance would chain every
    raise's frames (and the requests they hold) onto its traceback for good."""


# Values a leaf can hold that need no closer look; anything else may be what graphql-core
# treats specially (an awaitable, an Exception, Undefined) and is checked.
_PLAIN = frozenset({str, int, float, bool})


def _special(value: Any) -> bool:
    return isinstance(value, Exception) or isawaitable(value)


Reader = Callable[[Any], Any]  # source object -> completed value
Completer = Callable[[Any], Any]  # resolved value -> completed value


def _non_null(inner: Completer) -> Completer:
    def complete(value: Any) -> Any:
        completed = inner(value)
        if completed is None:
            raise _Slow
        return completed

    return complete


def _list(inner: Completer) -> Completer:
    def complete(value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, (list, tuple)):
            raise _Slow  # a generator, a set, an awaitable...: graphql-core's way
        return [inner(item) for item in value]

    return complete


def _leaf(coerce: Callable[[Any], Any]) -> Completer:
    def complete(value: Any) -> Any:
        if value is None or value is Undefined:
            return None
        if type(value) not in _PLAIN and _special(value):
            raise _Slow
        coerced = coerce(value)
        if coerced is None or coerced is Undefined:
            raise _Slow
        return coerced

    return complete


def _object(readers: list[tuple[str, Reader]]) -> Completer:
    def complete(value: Any) -> Any:
        if value is None or value is Undefined:
            return None
        if _special(value):
            raise _Slow
        return {name: read(value) for name, read in readers}

    return complete


def _attribute(name: str, complete: Completer) -> Reader:
    def read(source: Any) -> Any:
        return complete(getattr(source, name))

    return read


def _constant(value: str) -> Reader:
    return lambda _source: value


class FastExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context, with plain fields read directly (see the module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Per request: selection sets are memoized by identity within one execution only.
        self._plans: dict[int, tuple[Any, list[tuple[str, Any, Reader | None]] | None]] = {}
        manager = self.middleware_manager
        self._fast = not (manager is not None and manager.middlewares)

    # --- planning ---------------------------------------------------------------------------

    def _plan(
        self, parent_type: GraphQLObjectType, grouped_field_set: Mapping[str, Any]
    ) -> list[tuple[str, Any, Reader | None]] | None:
        """(response name, field details, fast reader or None) per field; None if no field
        of the set can be read fast."""
        key = id(grouped_field_set)
        cached = self._plans.get(key)
        if cached is not None:
            return cached[1]
        plan = [
            (name, details, self._reader(parent_type, details))
            for name, details in grouped_field_set.items()
        ]
        result = plan if any(reader is not None for _, _, reader in plan) else None
        self._plans[key] = (grouped_field_set, result)  # keeps the key's object alive
        return result

    def _reader(self, parent_type: GraphQLObjectType, details: list[FieldDetails]) -> Reader | None:
        node = details[0].node
        if any(d.defer_usage is not None for d in details) or node.arguments:
            return None
        name = node.name.value
        if name == "__typename":
            return _constant(parent_type.name)
        field_def = parent_type.fields.get(name)
        if field_def is None or field_def.args:
            return None
        definition = (field_def.extensions or {}).get(_DEFINITION)
        if definition is None or not definition.is_basic_field:
            return None
        if definition.default_resolver is not getattr:
            return None  # a schema configured with another default resolver: keep it
        if getattr(field_def.resolve, "_is_default", False) is not True:
            return None  # Strawberry wraps it (exception handlers): keep its resolver
        complete = self._completer(field_def.type, details)
        if complete is None:
            return None
        return _attribute(definition.python_name, complete)

    def _completer(
        self, return_type: GraphQLOutputType, details: list[FieldDetails]
    ) -> Completer | None:
        if is_non_null_type(return_type):
            inner = self._completer(return_type.of_type, details)
            return None if inner is None else _non_null(inner)
        if is_list_type(return_type):
            inner = self._completer(return_type.of_type, details)
            return None if inner is None else _list(inner)
        if is_leaf_type(return_type):
            return _leaf(return_type.coerce_output_value)
        if is_object_type(return_type):
            object_type: GraphQLObjectType = return_type
            if object_type.is_type_of is not None:
                return None
            collected = self.collect_subfields(object_type, details)
            if collected.new_defer_usages or collected.forbidden_directive_instances:
                return None
            plan = self._plan(object_type, collected.grouped_field_set) or []
            readers = [(name, reader) for name, _, reader in plan if reader is not None]
            if not plan or len(readers) < len(plan):
                return None  # a field of it needs graphql-core: so does the object
            return _object(readers)
        return None  # interfaces and unions: graphql-core resolves the runtime type

    # --- execution --------------------------------------------------------------------------

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: dict[str, list[FieldDetails]],
        position_context: Any,
    ) -> Any:
        if not self._fast or position_context is not None:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        plan = self._plan(parent_type, grouped_field_set)
        if plan is None:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for name, details, read in plan:
                if read is not None:
                    try:
                        results[name] = read(source_value)
                        continue
                    except Exception:  # noqa: S110 - re-executed below, which reports it
                        pass
                result = self.execute_field(
                    parent_type,
                    source_value,
                    details,
                    Path(path, name, parent_type.name),
                    position_context,
                )
                if result is not Undefined:
                    results[name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                field = awaitable_fields[0]
                results[field] = await results[field]
            else:
                awaited = await gather_with_cancel(*(results[f] for f in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()
