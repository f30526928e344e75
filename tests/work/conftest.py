"""Until the promotion service lands (h/promo), the two promotion reads the home calls are
stood in for from the rows, with the same rules (pending review, not one's own, not reviewed
yet by the caller); once it lands, the real ones run."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from riskops.server.core import approvals
from riskops.server.core.principal import Principal
from riskops.server.views import promotion
from riskops.server.views.models import PromotionStatus, ViewPromotionRequest, ViewReview


async def _waiting_for_review(principal: Principal) -> list[ViewPromotionRequest]:
    rows = await ViewPromotionRequest.filter(
        org_id=principal.org_id, status=PromotionStatus.PENDING_REVIEW
    )
    reviewed = set(
        await ViewReview.filter(org_id=principal.org_id, reviewer_id=principal.user_id).values_list(
            "request_id", flat=True
        )
    )
    return [
        r for r in rows
        if approvals.may_decide(principal, r.requested_by_id) and r.id not in reviewed
    ]  # fmt: skip


async def _list_requests(
    principal: Principal, *, mine: bool = False, **_: Any
) -> list[ViewPromotionRequest]:
    q = ViewPromotionRequest.filter(org_id=principal.org_id)
    if mine:
        q = q.filter(requested_by_id=principal.user_id)
    return list(await q.order_by("-id"))


def _unimplemented(fn: Any) -> bool:
    return "raise NotImplementedError" in inspect.getsource(fn)


@pytest.fixture(autouse=True)
def promotion_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    if _unimplemented(promotion.waiting_for_review):
        monkeypatch.setattr(promotion, "waiting_for_review", _waiting_for_review)
    if _unimplemented(promotion.list_requests):
        monkeypatch.setattr(promotion, "list_requests", _list_requests)
