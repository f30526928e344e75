"""The fast path of `graphql/core/executor.py` answers exactly like stock Strawberry.

Every query here is executed by a stock schema and by the same schema with
`FastExecutionContext`, and the two results (data, error messages, error paths) must be equal:
plain reads, aliases, fragments, `__typename`, @include/@skip, resolvers mixed with plain fields,
async resolvers below plain objects, and the error cases the fast path hands back to
graphql-core (a null in a non-null position, a value that does not coerce, an attribute that
raises).
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from enum import Enum
from typing import Any

import pytest
import strawberry
from graphql.pyutils import Undefined
from strawberry.scalars import JSON

from riskops.graphql.app import build_schema
from riskops.graphql.core.executor import FastExecutionContext
from riskops.server.settings import Settings


@strawberry.enum
class Colour(Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Leaf:
    name: str
    score: float
    colour: Colour
    tags: list[str]
    maybe: int | None = None


@strawberry.type
class Node:
    id: strawberry.ID
    leaves: list[Leaf]
    first: Leaf | None

    @strawberry.field
    def computed(self, times: int = 2) -> int:
        return len(self.leaves) * times

    @strawberry.field
    async def later(self) -> str:
        await asyncio.sleep(0)
        return f"later-{self.id}"


class Broken:
    """Looks like a Leaf but its `name` raises."""

    score = 1.0
    colour = Colour.RED
    tags: list[str] = []
    maybe = None

    @property
    def name(self) -> str:
        raise RuntimeError("name is unavailable")


def leaf(i: int) -> Leaf:
    return Leaf(name=f"leaf-{i}", score=i / 2, colour=Colour.BLUE, tags=["a", str(i)], maybe=i)


def nodes(n: int = 3) -> list[Node]:
    return [
        Node(id=strawberry.ID(str(i)), leaves=[leaf(i), leaf(i + 1)], first=leaf(i))
        for i in range(n)
    ]


BAD: dict[str, Any] = {}


@strawberry.type
class Query:
    @strawberry.field
    async def nodes(self) -> list[Node]:
        return nodes()

    @strawberry.field
    def broken(self) -> list[Node]:
        kind = BAD["kind"]
        out = nodes(2)
        if kind == "null-in-non-null":
            out[1].leaves[0].name = None  # type: ignore[assignment]
        elif kind == "bad-enum":
            out[0].first.colour = "green"  # type: ignore[assignment,union-attr]
        elif kind == "bad-int":
            out[1].leaves[1].maybe = "x"  # type: ignore[assignment]
        elif kind == "raises":
            out[0].leaves[1] = Broken()  # type: ignore[call-overload]
        elif kind == "not-a-list":
            out[1].leaves = 5  # type: ignore[assignment]
        return out


STOCK = strawberry.Schema(query=Query)
FAST = strawberry.Schema(query=Query, execution_context_class=FastExecutionContext)

QUERIES = {
    "plain": "{ nodes { id leaves { name score colour tags maybe } first { name } } }",
    "aliases and typename": "{ ns: nodes { __typename key: id leaves { n: name, __typename } } }",
    "fragments": (
        "{ nodes { ...N } } fragment N on Node { id first { ...L } leaves { ...L name } } "
        "fragment L on Leaf { score colour }"
    ),
    "directives": (
        "query Q($yes: Boolean!) { nodes { id @include(if: $yes) "
        "leaves @skip(if: $yes) { name } first @include(if: $yes) { tags } } }"
    ),
    "mixed resolvers": "{ nodes { id computed c3: computed(times: 3) later leaves { name } } }",
    "repeated field merged": "{ nodes { first { name } first { score } } }",
}


def run(schema: strawberry.Schema, query: str) -> tuple[Any, list[tuple[str, Any]]]:
    """Data as JSON text (so key order counts) and (message, path) of each error."""
    result = asyncio.run(schema.execute(query, variable_values={"yes": True}))
    errors = [(e.message, e.path) for e in result.errors or []]
    return json.dumps(result.data, default=str), errors


@pytest.mark.parametrize("name", list(QUERIES))
def test_same_result_as_stock_strawberry(name: str) -> None:
    stock = run(STOCK, QUERIES[name])
    assert stock[1] == []
    assert run(FAST, QUERIES[name]) == stock


@pytest.mark.parametrize(
    "kind", ["null-in-non-null", "bad-enum", "bad-int", "raises", "not-a-list"]
)
def test_errors_are_those_of_stock_strawberry(kind: str) -> None:
    BAD["kind"] = kind
    query = "{ broken { id leaves { name colour maybe } first { name colour } } }"
    stock = run(STOCK, query)
    assert stock[1], "the case must produce an error"
    assert run(FAST, query) == stock


def test_the_api_schema_uses_the_fast_context() -> None:
    schema = build_schema(Settings())
    assert schema.execution_context_class is FastExecutionContext


class Counting(FastExecutionContext):
    calls = 0

    def execute_field(self, *args: Any, **kwargs: Any) -> Any:
        type(self).calls += 1
        return super().execute_field(*args, **kwargs)


def test_plain_fields_skip_graphql_core_field_execution() -> None:
    schema = strawberry.Schema(query=Query, execution_context_class=Counting)
    Counting.calls = 0
    data, errors = run(schema, QUERIES["plain"])
    assert errors == [] and len(json.loads(data)["nodes"]) == 3
    assert Counting.calls == 1  # only the root resolver; the 3 nodes' 33 fields are read directly
    Counting.calls = 0
    run(schema, QUERIES["mixed resolvers"])
    assert Counting.calls == 1 + 3 * 3  # the root, and per node computed, c3 and later


# --- values graphql-core treats specially, other types, and fallbacks ---------------------------


async def _five() -> int:
    return 5


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Person(Named):
    age: int


@strawberry.type
class Odd:
    """Plain fields holding what a resolver could return but an attribute rarely holds."""

    j: JSON | None
    d: Decimal | None
    s: str | None
    n: int


@strawberry.type
class Holder:
    odd: Odd


def odd(kind: str) -> Odd:
    values: dict[str, Any] = {"j": {"a": [1, 2]}, "d": Decimal("12.50"), "s": "x", "n": 1}
    if kind == "awaitable":
        values["j"] = _five()
    elif kind == "exception":
        values["d"] = ValueError("boom")
    elif kind == "undefined":
        values["s"] = Undefined
    elif kind == "null-in-non-null-object":
        values["n"] = None
    return Odd(**values)


KIND: dict[str, str] = {}


@strawberry.type
class OddQuery:
    @strawberry.field
    def items(self) -> list[Odd]:
        return [odd(KIND["kind"]), odd("plain")]

    @strawberry.field
    def holders(self) -> list[Holder | None]:
        return [Holder(odd=odd(KIND["kind"]))]

    @strawberry.field
    def named(self) -> list[Named]:
        return [Person(name="Ann", age=40)]


@strawberry.type
class OddMutation:
    @strawberry.mutation
    def touch(self) -> Holder:
        return Holder(odd=odd("plain"))


ODD_STOCK = strawberry.Schema(query=OddQuery, mutation=OddMutation, types=[Person])
ODD_FAST = strawberry.Schema(
    query=OddQuery,
    mutation=OddMutation,
    types=[Person],
    execution_context_class=FastExecutionContext,
)


@pytest.mark.parametrize(
    "kind", ["plain", "awaitable", "exception", "undefined", "null-in-non-null-object"]
)
def test_special_values_and_scalars_as_stock_strawberry(kind: str) -> None:
    KIND["kind"] = kind
    query = "{ items { j d s n } holders { odd { j d s n } } named { name ... on Person { age } } }"
    assert run(ODD_FAST, query) == run(ODD_STOCK, query)


def test_mutations_as_stock_strawberry() -> None:
    query = "mutation { a: touch { odd { j d s n } } b: touch { odd { n } } }"
    assert run(ODD_FAST, query) == run(ODD_STOCK, query)


def test_fallbacks_keep_nothing_alive() -> None:
    """A fallback must not leave the request's frames on a shared exception's traceback."""
    import gc

    from riskops.graphql.core import executor

    BAD["kind"] = "null-in-non-null"
    query = "{ broken { id leaves { name } } }"
    for _ in range(50):
        run(FAST, query)
    gc.collect()
    leaked = [
        o for o in gc.get_objects() if isinstance(o, executor._Slow) and o.__traceback__ is not None
    ]
    assert leaked == []
