"""What a lead says, in the reader's language: the rule's name, and one sentence saying
exactly why the lead is one, from the facts the scan kept (``Lead.facts``)."""

from __future__ import annotations

from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from applications.models import KinDeclaration, Person

RULE_LABELS: dict[str, Promise] = {
    "public_servant": gettext_lazy("member on the public-servant list"),
    "vehicle": gettext_lazy("member owns a valuable vehicle"),
    "property": gettext_lazy("member owns commercial property"),
    "business": gettext_lazy("member runs an active business"),
    "deceased": gettext_lazy("benefit after a death"),
    "moved_out": gettext_lazy("benefit after a member moved out"),
    "shared_card": gettext_lazy("bank card shared by households"),
    "shared_phone": gettext_lazy("phone shared by households"),
    "kin_handled": gettext_lazy("official handled a relative's application"),
    "card_changed_before_payment": gettext_lazy("card changed just before a payment"),
    "paid_amount_mismatch": gettext_lazy("bank paid a different amount"),
    "duplicate_benefit": gettext_lazy("same benefit in two programs"),
    "appraisal_pattern": gettext_lazy("identical appraisal figures"),
}


def rule_label(code: str) -> str:
    return str(RULE_LABELS.get(code, code))


def _relation(code: str) -> str:
    for choices in (Person.Relation, KinDeclaration.Relation):
        if code in choices.values:
            return str(choices(code).label)
    return code


def _list(facts: dict[str, Any]) -> str:
    from crosscheck.models import ReferenceList

    listed = facts.get("list") or {}
    kind = listed.get("kind", "")
    return _("list of %(kind)s from %(source)s (%(as_of)s)") % {
        "kind": ReferenceList.Kind(kind).label if kind in ReferenceList.Kind.values else kind,
        "source": listed.get("source", ""),
        "as_of": listed.get("as_of", ""),
    }


def lead_sentence(rule: str, facts: dict[str, Any]) -> str:  # noqa: C901 - one case per rule
    """Why the lead is one, in one sentence."""
    f = facts
    who = {"person": f.get("person", ""), "relation": _relation(f.get("relation", ""))}
    rows = f.get("rows", [])
    if rule == "public_servant":
        return _(
            "%(person)s (%(relation)s) is on the %(list)s, working at %(where)s (row %(row)s)."
        ) % (
            who
            | {
                "list": _list(f),
                "where": "、".join(r.get("detail", "") for r in rows),
                "row": "、".join(str(r["row"]) for r in rows),
            }
        )
    if rule == "vehicle":
        return _(
            "%(person)s (%(relation)s) owns %(vehicles)s on the %(list)s, worth at least "
            "%(threshold)s yuan."
        ) % (
            who
            | {
                "vehicles": "、".join(
                    f"{r.get('detail', '')}（{r.get('value', '')}元）" for r in rows
                ),
                "list": _list(f),
                "threshold": f.get("threshold", ""),
            }
        )
    if rule in ("property", "business"):
        text = (
            _("%(person)s (%(relation)s) owns %(what)s on the %(list)s.")
            if rule == "property"
            else _("%(person)s (%(relation)s) runs %(what)s on the %(list)s.")
        )
        return text % (
            who
            | {
                "what": "、".join(
                    f"{r.get('detail', '')}（{r.get('category', '')}）" for r in rows
                ),
                "list": _list(f),
            }
        )
    if rule == "deceased":
        parts = []
        if f.get("applied_after"):
            parts.append(_("applied on %(applied)s") % {"applied": f.get("applied")})
        if f.get("paid_after"):
            parts.append(_("paid on %(paid)s") % {"paid": "、".join(f["paid_after"])})
        return _(
            "%(person)s (%(relation)s) died on %(date)s by the %(list)s, but application "
            "%(application)s (%(program)s) was %(what)s."
        ) % (
            who
            | {
                "date": f.get("date"),
                "list": _list(f),
                "application": f.get("application"),
                "program": f.get("program", ""),
                "what": _(" and ").join(parts),
            }
        )
    if rule == "moved_out":
        return _(
            "%(person)s (%(relation)s) moved out on %(date)s by the %(list)s, before the "
            "household applied on %(applied)s (application %(application)s, %(program)s)."
        ) % (
            who
            | {
                "date": f.get("date"),
                "list": _list(f),
                "applied": f.get("applied"),
                "application": f.get("application"),
                "program": f.get("program", ""),
            }
        )
    if rule == "shared_card":
        return _(
            "The bank card %(card)s is registered to %(households)s households: also %(others)s."
        ) % {
            "card": f.get("card"),
            "households": f.get("households"),
            "others": _others(f),
        }
    if rule == "shared_phone":
        return _(
            "The phone %(phone)s is registered to %(households)s households (%(threshold)s or "
            "more is a lead): also %(others)s."
        ) % {
            "phone": f.get("phone"),
            "households": f.get("households"),
            "threshold": f.get("threshold"),
            "others": _others(f),
        }
    if rule == "kin_handled":
        return _(
            "%(official)s declared %(relative)s (%(relation)s) on %(declared)s, and took these "
            "steps on the household's application: %(steps)s."
        ) % {
            "official": f.get("official"),
            "relative": f.get("relative"),
            "relation": _relation(f.get("relation", "")),
            "declared": f.get("declared"),
            "steps": "、".join(
                f"{step_name(s.get('step', ''))}（{s.get('date')}）" for s in f.get("steps", [])
            ),
        }
    if rule == "card_changed_before_payment":
        return _(
            "The payment of round %(round)s went on %(sent)s to the card %(card)s, changed on "
            "%(changed)s: %(days)s days before (under %(threshold)s)."
        ) % {k: f.get(k) for k in ("round", "sent", "card", "changed", "days", "threshold")}
    if rule == "paid_amount_mismatch":
        return _(
            "Round %(round)s sent %(sent_amount)s yuan, but the bank confirmed %(paid_amount)s "
            "yuan: %(difference)s yuan apart."
        ) % {k: f.get(k) for k in ("round", "sent_amount", "paid_amount", "difference")}
    if rule == "duplicate_benefit":
        return _(
            "The household was approved for %(item)s in %(year)s in several programs: %(apps)s."
        ) % {
            "item": f.get("item"),
            "year": f.get("year"),
            "apps": "、".join(
                _("application %(id)s (%(program)s)") % a for a in f.get("applications", [])
            ),
        }
    if rule == "appraisal_pattern":
        return _(
            "%(count)s applications of this village, appraised on %(dates)s different days "
            "from %(first)s to %(last)s, all record %(attendees)s attendees, %(for)s for and "
            "%(against)s against."
        ) % {
            k: f.get(k) for k in ("count", "dates", "first", "last", "attendees", "for", "against")
        }
    return rule


def _others(facts: dict[str, Any]) -> str:
    others = facts.get("others", [])
    text = "、".join(f"{o.get('head')}（{o.get('village') or o.get('area')}）" for o in others)
    if facts.get("elsewhere"):
        text += _("; and %(n)s households outside the county") % {"n": facts["elsewhere"]}
    return text or "—"


def step_name(step: str) -> str:
    from approvals.labels import STEP_LABELS

    special = {
        "card_check": _("checked the bank card"),
        "round.approve": _("approved the payment round"),
        "round.draw_up": _("drew up the payment round"),
        "objection.upheld": _("upheld an objection"),
        "objection.dismissed": _("dismissed an objection"),
    }
    if step in special:
        return special[step]
    label = STEP_LABELS.get(step)
    return str(label) if label is not None else step
