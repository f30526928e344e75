"""How an alert reads on the pages: its SLA in words a queue can scan (`sla_of`) and the geometry
of its signal chart (`signal_bars`, `signal_scale`): pure functions of what the services
return, no rule of the workflow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from riskops.server.triage.models import Alert, AlertStatus, SignalContribution


@dataclass(frozen=True)
class Sla:
    text: str
    css: str  # sla-overdue, sla-soon, sla-ok, sla-done


def _hours(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    return f"{hours // 24}d {hours % 24}h"


def sla_of(alert: Alert, now: datetime | None = None) -> Sla:
    """How the alert stands against its SLA due time, in words a queue can scan."""
    if alert.status is AlertStatus.CLOSED:
        return Sla("closed", "sla-done")
    now = now or datetime.now(UTC)
    due = alert.due_at if alert.due_at.tzinfo else alert.due_at.replace(tzinfo=UTC)
    left = (due - now).total_seconds()
    if left < 0:
        return Sla(f"overdue {_hours(-left)}", "sla-overdue")
    return Sla(f"due in {_hours(left)}", "sla-soon" if left < 3600 else "sla-ok")


@dataclass(frozen=True)
class Bar:
    label: str
    value: str
    contribution: float
    y: int
    x: float
    width: float
    css: str
    text_x: float
    text_anchor: str


CHART_WIDTH = 640
CHART_LABEL = 230  # the label column
CHART_ROW = 26


@dataclass(frozen=True)
class SignalScale:
    """What the chart's text states: the bars' unit and scale, and their net sum."""

    largest: float  # the longest bar, in model points
    net: float  # raises minus lowers, in model points


def signal_bars(signals: Sequence[SignalContribution]) -> tuple[list[Bar], int, float]:
    """Geometry of the signal chart: bars grow right (raise the score) or left (lower it) from
    the axis, scaled to the largest contribution, in the order the service gives (largest
    first, `queue.signals_of`). The axis is in the middle when there are both directions, else
    at the side the bars grow from. Returns (bars, height, axis x)."""
    signed = [_signed(s) for s in signals]
    room = 48  # for the value text at a bar's end
    left, right = CHART_LABEL + 4, CHART_WIDTH - 4
    has_up, has_down = any(c >= 0 for c in signed), any(c < 0 for c in signed)
    if has_up and has_down:
        axis = (left + right) / 2
        reach = (right - left) / 2 - room
    elif has_down:
        axis, reach = right, right - left - room
    else:
        axis, reach = left, right - left - room
    scale = max((abs(c) for c in signed), default=0) or 1
    bars = []
    for i, (s, c) in enumerate(zip(signals, signed, strict=True)):
        width = max(abs(c) / scale * reach, 1.5)
        up = c >= 0
        bars.append(
            Bar(
                label=s.signal,
                value="—" if s.value is None else str(s.value),
                contribution=c,
                y=i * CHART_ROW + 4,
                x=round(axis if up else axis - width, 1),
                width=round(width, 1),
                css="bar-up" if up else "bar-down",
                text_x=round(axis + width + 4 if up else axis - width - 4, 1),
                text_anchor="start" if up else "end",
            )
        )
    return bars, len(bars) * CHART_ROW + 8, axis


def _signed(s: SignalContribution) -> float:
    return abs(s.contribution) * (1 if s.direction == "up" else -1)


def signal_scale(signals: Sequence[SignalContribution]) -> SignalScale:
    signed = [_signed(s) for s in signals]
    return SignalScale(max((abs(c) for c in signed), default=0.0), sum(signed))
