"""The pieces of "My work" (`riskops.server.work.service.my_work`): a section of items, an item a
count and the page it links to, an entry one request or view under an item. Their own module so
that the rooms contributing a section (the response loop) build them without importing the
service that gathers them."""

from __future__ import annotations

from dataclasses import dataclass

MAX_ENTRIES = 20  # entries listed under one item; the count says how many there are in all


@dataclass(frozen=True)
class Entry:
    """One request or view under an item: what it is, where it is, its state and reason."""

    label: str
    href: str
    state: str = ""
    detail: str = ""  # a rejection's reason


@dataclass(frozen=True)
class Item:
    key: str  # stable for integrators: "alerts.new", "decide.case_resolutions", …
    label: str
    count: int | None  # None: not counted yet (a view's count is on its way)
    href: str
    exact: bool = True  # False: more than `count`
    detail: str = ""
    entries: tuple[Entry, ...] = ()

    @property
    def count_words(self) -> str:
        if self.count is None:
            return "counting…"
        return f"{self.count:,}" if self.exact else f"more than {self.count:,}"


@dataclass(frozen=True)
class Section:
    key: str  # "alerts", "views", "decisions", "requests", "runs"
    title: str
    empty: str  # what the page says when nothing is in it
    items: tuple[Item, ...] = ()
