"""Sign-in security: failed sign-ins and lockouts on the audit trail, the lockout's answer
(when to try again, in the user's language), and the admin's audited unlock. Counting and
locking are django-axes' (settings: ``AXES_*``); what is here is what the county sees."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_ip_address, get_cool_off
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from axes.utils import reset
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.db.models.signals import pre_save
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.models import AuthToken
from knox.signals import token_expired

from applications.permissions import grants_of
from audit.services import PUBLIC_ACTOR_NAME, audit_record
from common import clock
from common.actors import Actor
from common.errors import Code, InvalidInput, ServiceError


class LockedOut(ServiceError):
    """Too many failed sign-ins: 429, with when to try again."""

    status_code = 429
    default_code = Code.LOCKED_OUT


# A typed user name is kept as typed, up to the length a user name may have.
_NAME_MAX = 150


def _counties_of(username: str) -> list[str]:
    """The counties where the named user holds a role (the chains the entry goes on, so
    that the county's inspectors see it); none for an unknown name (the global chain)."""
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        return [""]
    return sorted({g.area_code[:6] + "000000" for g in grants_of(user)}) or [""]


def _record(request: HttpRequest | None, action: str, username: str, **changes: Any) -> None:
    address = get_client_ip_address(request) if request is not None else None
    via = "api" if request is not None and request.path.startswith("/api/") else "page"
    with transaction.atomic():
        for county in _counties_of(username):
            audit_record(
                actor=None,
                actor_name=PUBLIC_ACTOR_NAME,
                action=action,
                object_type="user",
                object_id=username[:_NAME_MAX],
                area_code=county,
                outcome="refused",
                changes={"address": [None, address], "via": [None, via], **changes},
            )


@receiver(user_login_failed)
def _login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **_: Any) -> None:
    username = str(credentials.get("username") or "")[:_NAME_MAX]
    _record(getattr(request, "_request", request), "auth.login_failed", username)


@receiver(user_locked_out)
def _locked_out(
    sender: Any, request: Any, username: str | None, ip_address: str | None, **_: Any
) -> None:
    until = clock.now() + (get_cool_off(request) or timedelta(0))
    _record(
        getattr(request, "_request", request),
        "auth.lockout",
        str(username or "")[:_NAME_MAX],
        until=[None, until.isoformat()],
    )


def retry_after(request: HttpRequest) -> tuple[timedelta, str]:
    """How long the lockout lasts from now, and the local time to try again."""
    cool_off = get_cool_off(request) or timedelta(minutes=15)
    at = timezone.localtime(clock.now() + cool_off)
    return cool_off, at.strftime("%H:%M")


def lockout_message(request: HttpRequest) -> str:
    cool_off, at = retry_after(request)
    return _(
        "Too many failed sign-ins. Try again after %(at)s (in %(minutes)d minutes), or ask "
        "the county's system administrator to unlock the account."
    ) % {"at": at, "minutes": max(1, round(cool_off.total_seconds() / 60))}


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """django-axes' answer to a locked-out sign-in: 429 with when to try again; JSON on the
    API, the sign-in page's own look elsewhere."""
    cool_off, _at = retry_after(request)
    message = lockout_message(request)
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            {"detail": message, "code": Code.LOCKED_OUT.value}, status=429
        )
    else:
        response = render(request, "registration/locked_out.html", {"message": message}, status=429)
    response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response


def _failures_forgotten(username: str) -> None:
    """A successful sign-in clears that user name's failures, from every address (and
    nobody else's)."""
    AccessAttempt.objects.filter(username=username).delete()


@receiver(user_logged_in)
def _logged_in(sender: Any, request: Any, user: Any, **_: Any) -> None:
    _failures_forgotten(user.get_username())


def login_unlock(*, actor: Actor, username: str = "", address: str = "") -> int:
    """An admin lifts a lockout: of a user name (its failures from every address), else of
    an address; audited, in the same transaction. Returns the number of records cleared."""
    if not (username or address):
        return 0  # axes' reset of nothing named would clear everyone's failures
    with transaction.atomic():
        if username:
            cleared = int(reset(username=username))
        else:
            cleared = int(reset(ip=address))
        for county in _counties_of(username) if username else [""]:
            audit_record(
                actor=actor,
                action="auth.unlock",
                object_type="user",
                object_id=username or address,
                area_code=county,
                changes={"address": [None, address or None], "cleared": [None, cleared]},
            )
    return cleared


def token_issue(request: HttpRequest, *, username: str, password: str) -> tuple[str, Any]:
    """A new API token for the user (knox: stored as a digest, expiring after
    ``REST_KNOX["TOKEN_TTL"]``) and its expiry. The sign-in is checked like the page's:
    a locked-out user name or address is refused with ``LockedOut`` (429), and a failure
    counts towards the lockout."""
    credentials = {"username": username}
    if AxesProxyHandler.is_locked(request, credentials):
        raise _locked_out_error(request)
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active:
        if getattr(request, "axes_locked_out", False) or AxesProxyHandler.is_locked(
            request, credentials
        ):
            raise _locked_out_error(request)
        raise InvalidInput({"detail": [_("The user name or the password is wrong.")]})
    _failures_forgotten(user.get_username())
    instance, token = AuthToken.objects.create(user=user)
    return token, instance.expiry


def _locked_out_error(request: HttpRequest) -> LockedOut:
    cool_off, _at = retry_after(request)
    return LockedOut(
        lockout_message(request), headers={"Retry-After": str(int(cool_off.total_seconds()))}
    )


class TokenAuthentication(KnoxTokenAuthentication):  # type: ignore[misc]  # knox is untyped
    """knox's token authentication, without its read of all the user's other tokens at
    every request (to delete those that have expired): one query fewer on every API call.
    The timers delete expired tokens instead (``tokens_expired_delete``). A token presented
    after its expiry is refused (401) and deleted, as knox does."""

    def _cleanup_token(self, auth_token: Any) -> bool:
        if auth_token.expiry is None or auth_token.expiry >= timezone.now():
            return False
        username = auth_token.user.get_username()
        auth_token.delete()
        token_expired.send(sender=self.__class__, username=username, source="auth_token")
        return True


class TokenScheme(KnoxTokenScheme):  # type: ignore[no-untyped-call]  # registers itself
    """The API schema describes this authentication as knox's: the same scheme, the same
    name (drf-spectacular matches the exact class)."""

    target_class = "applications.security.TokenAuthentication"


def tokens_expired_delete() -> int:
    """Delete every API token past its expiry (run by the timers); how many. Expiry is
    knox's, on the real clock (``timezone.now``), as knox sets and checks it."""
    deleted, _rows = AuthToken.objects.filter(expiry__lt=timezone.now()).delete()
    return int(deleted)


def token_revoke(token: Any) -> None:
    """Revoke one API token (the one a request was signed with)."""
    token.delete()


def tokens_revoke_all(user: Any) -> int:
    """Revoke every API token of the user: at signing out of the pages and at a new
    password."""
    deleted, _rows = AuthToken.objects.filter(user=user).delete()
    return int(deleted)


@receiver(user_logged_out)
def _logged_out(sender: Any, request: Any, user: Any, **_: Any) -> None:
    if user is not None:
        tokens_revoke_all(user)


@receiver(pre_save, sender=settings.AUTH_USER_MODEL)
def _password_changed(sender: Any, instance: Any, **_: Any) -> None:
    """A new password revokes the user's API tokens (whoever held one must sign in again)."""
    # Only a password just set (``set_password`` keeps it in ``_password`` until saved): not
    # Django re-hashing the same password with a newer hasher at sign-in.
    if instance.pk is None or getattr(instance, "_password", None) is None:
        return
    before = sender.objects.filter(pk=instance.pk).values_list("password", flat=True).first()
    if before is not None and before != instance.password:
        tokens_revoke_all(instance)
