"""Input no part of the site can store or search: a NUL byte (PostgreSQL's text refuses
it; SQLite keeps it, and a search for it finds nothing useful). Refused at the door, with the
field named, before any view or query sees it: 400, as JSON on the API and the site's page
elsewhere. And a value the database cannot hold, met by a page's query: 400 too."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DataError
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

_JSON_NUL = (b"\\u0000", b"\\U0000")


def _nul_fields(request: HttpRequest) -> list[str]:
    fields = [name for name, values in request.GET.lists() if any("\x00" in v for v in values)]
    fields += [name for name in request.GET if "\x00" in name]
    if "\x00" in request.path:
        fields.append("path")
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        content_type = request.content_type or ""
        if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            fields += [
                name
                for name, values in request.POST.lists()
                if "\x00" in name or any("\x00" in v for v in values)
            ]
        elif content_type.endswith("json"):
            body = request.body
            if b"\x00" in body or any(marker in body for marker in _JSON_NUL):
                fields.append("body")
    return list(dict.fromkeys(fields))


class RefuseNulBytes:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """A page's value the database cannot hold (a number past its range): the request
        is wrong, not the server (the API's handler says the same in JSON)."""
        if isinstance(exception, (DataError, OverflowError)) and not request.path.startswith(
            "/api/"
        ):
            return render(
                request,
                "400.html",
                {"message": _("A value in the request is out of range.")},
                status=400,
            )
        return None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        fields = _nul_fields(request)
        if not fields:
            return self.get_response(request)
        message = _("This may not contain a NUL character.")
        if request.path.startswith("/api/"):
            return JsonResponse({f: [message] for f in fields}, status=400)
        return render(request, "400.html", {"message": message}, status=400)


class HealthCheck:
    """``/healthz`` for the monitoring (``common.health``), answered first: it needs no
    session, and the monitoring asks the server by its own address over plain HTTP, which the
    host check and the redirect to HTTPS further down would refuse."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info != "/healthz":  # exactly: nginx lets only this path through
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        from common.health import health_report

        report = health_report()
        response = JsonResponse(report, status=200 if report["ok"] else 503)
        response["Cache-Control"] = "no-store"
        return response


Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> Address | None:
    """An address, an IPv4 one written as IPv6 (::ffff:127.0.0.1) taken as IPv4."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def trusted_proxies(entries: list[str]) -> tuple[Network, ...]:
    """``FUPIN_FORWARDED_ALLOW_IPS``: addresses or networks (10.0.0.0/24). An entry that is
    neither stops the site at start: silently trusting no proxy would make every client
    look like the proxy, and five failed sign-ins lock everyone out."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"FUPIN_FORWARDED_ALLOW_IPS: {entry!r} is not an address or a network "
                "(e.g. 127.0.0.1 or 10.0.0.0/24)"
            ) from None
    return tuple(networks)


class ForwardedClient:
    """Behind nginx every request comes from 127.0.0.1: the client's address is the last one
    nginx added to X-Forwarded-For. Believed only from the proxies of
    ``FUPIN_FORWARDED_ALLOW_IPS`` (the same setting gunicorn reads for the scheme), and read
    from the right, skipping those proxies, so that addresses a client wrote into the header
    itself are never taken. ``REMOTE_ADDR`` then holds the client's address for everything
    after: the sign-in lockouts per address (django-axes) and the API's throttles."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.proxies = trusted_proxies(settings.FUPIN_FORWARDED_ALLOW_IPS)

    def _trusted(self, address: Address | None) -> bool:
        return address is not None and any(address in network for network in self.proxies)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded and self._trusted(_address(request.META.get("REMOTE_ADDR", ""))):
            for hop in reversed(forwarded.split(",")):
                address = _address(hop)
                if address is None:
                    break  # a hop nobody trusted wrote: keep the proxy's own address
                if not self._trusted(address):
                    request.META["REMOTE_ADDR"] = str(address)
                    break
        return self.get_response(request)
