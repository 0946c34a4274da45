"""Roles are permissions on an area: a role held on a township covers every village in it."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from applications.models import Area


class Role(models.TextChoices):
    VILLAGE_CADRE = "village_cadre", _("village cadre")
    TOWNSHIP_REVIEWER = "township_reviewer", _("township reviewer")
    COUNTY_APPROVER = "county_approver", _("county approver")
    FINANCE_OFFICER = "finance_officer", _("finance officer")
    INSPECTOR = "inspector", _("inspector")
    BANK_OFFICER = "bank_officer", _("bank officer")


ROLE_PERMISSION: dict[str, str] = {
    Role.VILLAGE_CADRE: "act_village_cadre",
    Role.TOWNSHIP_REVIEWER: "act_township_reviewer",
    Role.COUNTY_APPROVER: "act_county_approver",
    Role.FINANCE_OFFICER: "act_finance_officer",
    Role.INSPECTOR: "act_inspector",
    Role.BANK_OFFICER: "act_bank_officer",
}
PERMISSION_ROLE = {perm: role for role, perm in ROLE_PERMISSION.items()}
REVEAL_PERMISSION = "reveal_id_number"

# The level of area each role is granted on.
ROLE_LEVEL: dict[str, str] = {
    Role.VILLAGE_CADRE: Area.Level.VILLAGE,
    Role.TOWNSHIP_REVIEWER: Area.Level.TOWNSHIP,
    Role.COUNTY_APPROVER: Area.Level.COUNTY,
    Role.FINANCE_OFFICER: Area.Level.COUNTY,
    Role.INSPECTOR: Area.Level.COUNTY,
    Role.BANK_OFFICER: Area.Level.COUNTY,
}
# Roles that do not open the area's registry and applications to their holder: a bank
# officer sees their bank's loans only (``loans``), the right to see full ID numbers is no
# reading right by itself.
NOT_AREA_WIDE = frozenset({Role.BANK_OFFICER, REVEAL_PERMISSION})


def level_of_code(code: str) -> str:
    """The statistical code says its own level: county codes end in six zeros, township
    codes in three."""
    if code[6:] == "000000":
        return Area.Level.COUNTY
    if code[9:] == "000":
        return Area.Level.TOWNSHIP
    return Area.Level.VILLAGE


def prefix_of_code(code: str) -> str:
    level = level_of_code(code)
    if level == Area.Level.COUNTY:
        return code[:6]
    if level == Area.Level.TOWNSHIP:
        return code[:9]
    return code
