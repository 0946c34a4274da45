"""The page where an official declares their own ID number and their close relatives'
(亲属备案, DOMAIN rule 4). Every official with a role has it: the applications of a household
that includes them or a declared close relative are flagged and they are recused from them.

Thin: reads through ``applications.selectors``, writes through ``kin_declare``; a refusal is
shown on the form and changes nothing."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _

from applications.models import KinDeclaration
from applications.permissions import grants_of
from applications.selectors import kin_declarations_visible_to
from applications.services import kin_correct, kin_declare
from common.actors import Actor, person
from common.errors import InvalidInput, ServiceError
from workflows.forms import KinCorrectionForm, KinDeclarationForm, add_service_errors


@login_required
def kin_declarations(request: HttpRequest) -> HttpResponse:
    user: Actor = request.user
    if not grants_of(user):
        raise PermissionDenied(_("Kin declarations are for officials holding a role."))
    form = KinDeclarationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            declaration = kin_declare(actor=user, official_id=person(user).pk, **form.cleaned_data)
        except InvalidInput as exc:
            add_service_errors(form, exc.errors)
        except ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            flagged = declaration.flags.count()
            messages.success(
                request,
                _("Declared. Applications flagged for your recusal: %(n)s.") % {"n": flagged},
            )
            return redirect("workflows:kin")
    mine = (
        kin_declarations_visible_to(user)
        .filter(official_id=person(user).pk)
        .select_related("supersedes")
        .order_by("created_at", "pk")
    )
    return render(
        request,
        "workflows/kin/declarations.html",
        {
            "form": form,
            "declarations": list(mine),
            "recusing": KinDeclaration.RECUSING,
        },
        status=400 if form.errors else 200,
    )


@login_required
def kin_correction(request: HttpRequest, pk: int) -> HttpResponse:
    """Correct one of the official's own declarations in force by a new one that
    supersedes it (``kin_correct``); the wrong one stays on the record."""
    user: Actor = request.user
    declaration = (
        kin_declarations_visible_to(user)
        .filter(pk=pk, official_id=person(user).pk, superseded_at__isnull=True)
        .first()
    )
    if declaration is None:
        raise Http404(_("No such declaration."))
    form = KinCorrectionForm(
        request.POST or None,
        initial={"relation": declaration.relation, "name": declaration.name},
    )
    if request.method == "POST" and form.is_valid():
        try:
            kin_correct(actor=user, declaration_id=declaration.pk, **form.cleaned_data)
        except InvalidInput as exc:
            add_service_errors(form, exc.errors)
        except ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("The declaration is corrected; the wrong one is kept."))
            return redirect("workflows:kin")
    return render(
        request,
        "workflows/kin/correct.html",
        {"form": form, "declaration": declaration},
        status=400 if form.errors else 200,
    )


urlpatterns = [
    path("kin/", kin_declarations, name="kin"),
    path("kin/<int:pk>/correct/", kin_correction, name="kin_correct"),
]
