"""The admin reads; it never writes registry data, because every write must go through a
service and leave its audit entry."""

from __future__ import annotations

from typing import Any

from axes.models import AccessAttempt
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext, gettext_lazy

from applications.models import Application, Area, Household, Program, ProgramVersion


class ReadOnly:
    """No adding, changing or deleting through the admin (viewing stays)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(ReadOnly, admin.ModelAdmin):  # type: ignore[type-arg]
    pass


def admin_read_only(site: admin.AdminSite) -> None:
    """Make every model the admin shows read-only, ours and the libraries' alike
    (viewflow's processes and tasks, the task queue's results, users and groups): called
    from ``ApplicationsConfig.ready``, after the admin discovered every app's models."""
    for model, model_admin in list(site._registry.items()):
        if isinstance(model_admin, ReadOnly):
            continue
        cls = type(model_admin)
        read_only = type(f"ReadOnly{cls.__name__}", (ReadOnly, cls), {})
        site.unregister(model)
        site.register(model, read_only)


@admin.register(Area)
class AreaAdmin(ReadOnlyAdmin):
    list_display = ["code", "name", "level"]
    list_filter = ["level"]
    search_fields = ["code", "name"]


@admin.register(Household)
class HouseholdAdmin(ReadOnlyAdmin):
    list_display = ["id", "head_name", "head_id_masked", "area_code", "household_type", "status"]
    list_filter = ["status", "household_type"]
    search_fields = ["head_name", "area_code"]
    exclude = ["bank_card_cipher", "bank_card_hash"]


@admin.register(Program)
class ProgramAdmin(ReadOnlyAdmin):
    list_display = ["code", "name", "kind", "area", "budget", "active"]


@admin.register(ProgramVersion)
class ProgramVersionAdmin(ReadOnlyAdmin):
    list_display = ["program", "effective_from", "household_cap", "posting_days"]


@admin.register(Application)
class ApplicationAdmin(ReadOnlyAdmin):
    list_display = ["id", "household", "program", "status", "amount", "area_code", "created_at"]
    list_filter = ["status", "program"]
    list_select_related = ["household", "program"]


@admin.register(AccessAttempt)
class SignInLockoutAdmin(ReadOnlyAdmin):
    """Failed sign-ins being counted (django-axes): read-only, but for the unlock, which an
    administrator takes and the audit trail records."""

    list_display = ["username", "ip_address", "failures_since_start", "attempt_time"]
    search_fields = ["username", "ip_address"]
    actions = ["unlock"]

    def has_unlock_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

    @admin.action(description=gettext_lazy("Unlock (audited)"), permissions=["unlock"])
    def unlock(self, request: HttpRequest, queryset: Any) -> None:
        from applications.security import login_unlock

        cleared = 0
        # Each user name's failures from every address (the lockout counts them all), and
        # the failures of each address as such.
        for username, address in sorted(set(queryset.values_list("username", "ip_address"))):
            if username:
                cleared += login_unlock(actor=request.user, username=username)
            if address:
                cleared += login_unlock(actor=request.user, address=address)
        self.message_user(
            request,
            gettext("Unlocked: %(n)d record(s) of failed sign-ins cleared.") % {"n": cleared},
        )
