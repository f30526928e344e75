"""Notification channel pages for admins (`/admin/channels`, issue 16): the list, a new channel
(its kind chosen first), a channel's page with its settings, "Send test", "Remove" and its
delivery log. Conventions are in `riskops.ui.common`; every action is one service of
`riskops.server.notify.channels`. Secrets are never shown, not even as typed after a refusal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from riskops.server.core.errors import Invalid
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.notify import channels, routing, webhooks
from riskops.server.notify.models import ChannelKind, NotificationChannel
from riskops.server.web import settings_of
from riskops.ui.common.forms import back, form_text, form_texts
from riskops.ui.common.posts import Refusal, Submission, form_post
from riskops.ui.common.rendering import page, render, signed_in

LOG_PAGE = 25
FIELDS = {
    "name": "name", "events": "events", "url": "url", "secret": "secret",
    "eventsUrl": "events_url", "smtpHost": "smtp_host", "smtpPort": "smtp_port",
    "smtpUsername": "smtp_username", "mailFrom": "mail_from", "recipients": "recipients",
    "kind": "kind", "expected_version": "_form", "id": "_form",
}  # fmt: skip
EVENTS = [(e.value, routing.EVENT_TEXT[e]) for e in routing.RoutedEvent]
KINDS = [(k.value, channels.KIND_TEXT[k]) for k in ChannelKind]


def _blank(kind: str) -> dict[str, Any]:
    return {"kind": kind, "name": "", "events": [], "enabled": True, "url": "",
            "events_url": "", "smtp_host": "", "smtp_port": "587", "starttls": True,
            "smtp_username": "", "mail_from": "", "recipients": "", "version": ""}  # fmt: skip


def _form_of(c: NotificationChannel) -> dict[str, Any]:
    config = c.config if isinstance(c.config, dict) else {}
    return {
        "kind": c.kind.value, "name": c.name, "events": list(c.events or []),
        "enabled": c.enabled, "url": config.get("url") or "",
        "events_url": config.get("events_url") or "", "smtp_host": config.get("host") or "",
        "smtp_port": str(config.get("port") or ""), "starttls": bool(config.get("starttls")),
        "smtp_username": config.get("username") or "", "mail_from": config.get("from") or "",
        "recipients": "\n".join(config.get("recipients") or []), "version": str(c.version),
    }  # fmt: skip


def _typed(form: FormData) -> dict[str, Any]:
    names = ("kind", "name", "url", "events_url", "smtp_host", "smtp_port", "smtp_username",
             "mail_from", "version")  # fmt: skip
    return {
        **{n: form_text(form, n) for n in names},
        "events": form_texts(form, "events"),
        "enabled": form.get("enabled") == "on",
        "starttls": form.get("starttls") == "on",
        "recipients": str(form.get("recipients") or "")[:5000],
    }


def _input(sub: Submission) -> channels.ChannelInput:
    v = sub.values
    secret = sub.form.get("secret")
    recipients = [r.strip() for r in str(v["recipients"]).replace(",", "\n").splitlines()]
    return channels.ChannelInput(
        name=v["name"], events=list(v["events"]), enabled=v["enabled"], url=v["url"],
        secret=secret if isinstance(secret, str) else None, events_url=v["events_url"],
        smtp_host=v["smtp_host"], smtp_port=v["smtp_port"], starttls=v["starttls"],
        smtp_username=v["smtp_username"], mail_from=v["mail_from"],
        recipients=[r for r in recipients if r],
    )  # fmt: skip


def _version(sub: Submission) -> int | None:
    raw = sub.values.get("version") or sub.text("version")
    return int(raw) if str(raw).isdigit() else None


# ----------------------------------------------------------------------------- list, new


@page
async def channels_list(request: Request) -> Response:
    principal = signed_in(request)
    rows = await channels.list_channels(principal)
    ctx = {"channels": rows, "KIND_TEXT": channels.KIND_TEXT, "EVENT_TEXT": dict(EVENTS)}
    return render(request, "notify/channels.html", ctx)


async def _new_page(
    request: Request, principal: Principal, kind: str, *, status: int = 200,
    errors: Mapping[str, str] | None = None, form: Mapping[str, Any] | None = None,
) -> Response:  # fmt: skip
    principal.require(Perm.CHANNEL_MANAGE)
    chosen = kind if kind in {k for k, _ in KINDS} else ""
    ctx = {"kind": chosen, "KINDS": KINDS, "EVENTS": EVENTS, "errors": errors or {},
           "form": form or _blank(chosen), "channel": None,
           "kind_text": dict(KINDS).get(chosen, "")}  # fmt: skip
    return render(request, "notify/channel_new.html", ctx, status)


@page
async def channel_new(request: Request) -> Response:
    return await _new_page(request, signed_in(request), form_text(request.query_params, "kind"))


async def _create_refused(sub: Submission, refusal: Refusal) -> Response:
    return await _new_page(sub.request, sub.principal, sub.values["kind"], status=refusal.status,
                           errors=refusal.errors, form=sub.values)  # fmt: skip


@form_post(_create_refused, keep=_typed, fields=FIELDS)
async def channel_create(sub: Submission) -> Response:
    created = await channels.create_channel(sub.principal, sub.values["kind"], _input(sub))
    return back(f"/admin/channels/{created.id}", "channel.created")


# ----------------------------------------------------------------------------- one channel


async def _channel_page(
    request: Request, principal: Principal, channel_id: str, *, status: int = 200,
    errors: Mapping[str, str] | None = None, form: Mapping[str, Any] | None = None,
    test: channels.TestResult | None = None, remove_error: str | None = None,
) -> Response:  # fmt: skip
    channel = await channels.get_channel(principal, channel_id)
    after = form_text(request.query_params, "after") or None
    log_error = None
    try:
        log = await channels.deliveries(principal, channel.id, first=LOG_PAGE, after=after)
    except Invalid as exc:
        log, log_error = channels.DeliveryPage([], None, False), exc.message
    ctx = {
        "waiting": log.waiting,
        "channel": channel, "kind": channel.kind.value,
        "kind_text": channels.KIND_TEXT[channel.kind],
        "EVENTS": EVENTS, "EVENT_TEXT": dict(EVENTS), "errors": errors or {},
        "form": form or _form_of(channel), "secret_set": channels.secret_set(channel),
        "test": test, "remove_error": remove_error, "log": log, "log_error": log_error,
        "after": after, "summary": lambda m: webhooks.summary(m)[0],
        "action_of": lambda m: routing.action_of(m.payload),
    }  # fmt: skip
    return render(request, "notify/channel.html", ctx, status)


@page
async def channel_detail(request: Request) -> Response:
    return await _channel_page(request, signed_in(request), request.path_params["channel_id"])


async def _update_refused(sub: Submission, refusal: Refusal) -> Response:
    return await _channel_page(sub.request, sub.principal, sub.param("channel_id"),
                               status=refusal.status, errors=refusal.errors,
                               form=sub.values)  # fmt: skip


def _typed_update(form: FormData) -> dict[str, Any]:
    return _typed(form)


@form_post(_update_refused, keep=_typed_update, fields=FIELDS)
async def channel_update(sub: Submission) -> Response:
    await channels.update_channel(sub.principal, sub.param("channel_id"), _input(sub),
                                  expected_version=_version(sub))  # fmt: skip
    return back(f"/admin/channels/{sub.param('channel_id')}", "channel.saved")


async def _action_refused(sub: Submission, refusal: Refusal) -> Response:
    return await _channel_page(sub.request, sub.principal, sub.param("channel_id"),
                               status=refusal.status, remove_error=refusal.message)  # fmt: skip


@form_post(_action_refused)
async def channel_test(sub: Submission) -> Response:
    result = await channels.send_test(sub.principal, sub.param("channel_id"),
                                      base_url=settings_of(sub.request).base_url)  # fmt: skip
    return await _channel_page(sub.request, sub.principal, sub.param("channel_id"), test=result)


@form_post(_action_refused)
async def channel_remove(sub: Submission) -> Response:
    await channels.remove_channel(sub.principal, sub.param("channel_id"),
                                  expected_version=_version(sub))  # fmt: skip
    return back("/admin/channels", "channel.removed")


routes: list[Route] = [
    Route("/admin/channels", channels_list, methods=["GET"]),
    Route("/admin/channels", channel_create, methods=["POST"]),
    Route("/admin/channels/new", channel_new, methods=["GET"]),
    Route("/admin/channels/{channel_id}", channel_detail, methods=["GET"]),
    Route("/admin/channels/{channel_id}", channel_update, methods=["POST"]),
    Route("/admin/channels/{channel_id}/test", channel_test, methods=["POST"]),
    Route("/admin/channels/{channel_id}/remove", channel_remove, methods=["POST"]),
]
