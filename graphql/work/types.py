"""The types of `myWork`: sections of items, each a count and the page it links to."""

from __future__ import annotations

import strawberry

from riskops.server.work import service


@strawberry.type(description="One request or view listed under an item.")
class WorkEntry:
    label: str = strawberry.field(description='What it is, in words ("CASE-000004 Card testing").')
    link: str = strawberry.field(description="The page's path, relative to the site.")
    state: str = strawberry.field(
        description='Where it is ("waiting for an approver", "rejected", …); empty for a view.'
    )
    reason: str = strawberry.field(description="A rejection's or decline's reason; else empty.")

    @classmethod
    def of(cls, e: service.Entry) -> WorkEntry:
        return cls(label=e.label, link=e.href, state=e.state, reason=e.detail)


@strawberry.type(description="One thing waiting: how many, and the page that shows them.")
class WorkItem:
    key: str = strawberry.field(
        description="Stable name: alerts.<status>, alerts.overdue, views.<viewId>, "
        "decide.<kind>, mine.<kind>, runs.<severity>."
    )
    label: str
    count: int | None = strawberry.field(
        description='How many; null while a view\'s count is being computed ("counting…").'
    )
    exact: bool = strawberry.field(description="False: there are more than `count`.")
    link: str = strawberry.field(description="The page's path: one entry's own page, or the list.")
    detail: str = strawberry.field(description='A few more words ("2 waiting", "pinned").')
    entries: list[WorkEntry] = strawberry.field(
        description="The requests or views behind the count (at most 20)."
    )

    @classmethod
    def of(cls, i: service.Item) -> WorkItem:
        return cls(key=i.key, label=i.label, count=i.count, exact=i.exact, link=i.href,
                   detail=i.detail, entries=[WorkEntry.of(e) for e in i.entries])  # fmt: skip


@strawberry.type(description="A part of the home page; only those the caller's roles give.")
class WorkSection:
    key: str = strawberry.field(
        description="alerts (assigned to me), views (my default and pinned views), decisions "
        "(waiting for my decision), requests (my own requests), runs (open SEV0/SEV1 runs)."
    )
    title: str
    empty_text: str = strawberry.field(description="What the page says when it holds nothing.")
    items: list[WorkItem] = strawberry.field(description="Only what is not zero.")

    @classmethod
    def of(cls, s: service.Section) -> WorkSection:
        return cls(key=s.key, title=s.title, empty_text=s.empty,
                   items=[WorkItem.of(i) for i in s.items])  # fmt: skip


@strawberry.type(description="A role the caller holds and, in one line, what it may do.")
class WorkRole:
    role: str
    text: str


@strawberry.type(description="What is waiting for the caller: the home page, for a dashboard.")
class MyWork:
    sections: list[WorkSection]
    roles: list[WorkRole]

    @classmethod
    def of(cls, w: service.MyWork) -> MyWork:
        return cls(sections=[WorkSection.of(s) for s in w.sections],
                   roles=[WorkRole(role=r, text=t) for r, t in w.roles])  # fmt: skip
