"""The village cadre's pages for a household's exit from poverty (脱贫销号) and its return to
poverty (返贫挂号): propose the exit with the year's income and the visit's date, record a
risk signal, and correct their facts while the proposal is a draft or returned. The rest of
the way (appraisal, the head's confirmation, posting, reviews) is the application's page and
the review queues, as for every chain. Thin: the services decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from applications.models import Application, Household, Program, StatusChange
from applications.selectors import status_programs
from applications.services import program_version_current
from approvals import policy
from approvals.services.filing import application_create, application_edit
from common.actors import Actor
from common.errors import InvalidInput, ServiceError
from workflows.forms import Form, add_service_errors
from workflows.views.cadre import _application, _household, cadre_required


class ExitForm(Form):
    income_per_capita = forms.DecimalField(
        label=gettext_lazy("per-capita income (yuan a year)"),
        min_value=0,
        max_digits=12,
        decimal_places=2,
    )
    income_year = forms.IntegerField(label=gettext_lazy("income year"), min_value=2000)
    visit_date = forms.DateField(
        label=gettext_lazy("date of the household visit"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )


class ReturnForm(Form):
    risk_cause = forms.ChoiceField(
        label=gettext_lazy("cause of the risk"), choices=Household.Cause.choices
    )
    risk_date = forms.DateField(
        label=gettext_lazy("date of the risk signal"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )


FORMS: dict[str, type[Form]] = {Program.Kind.EXIT: ExitForm, Program.Kind.RETURN: ReturnForm}
TITLES: dict[str, Any] = {
    Program.Kind.EXIT: gettext_lazy("Propose an exit from poverty"),
    Program.Kind.RETURN: gettext_lazy("Record a risk of returning to poverty"),
}


def status_program(user: Actor, household: Household, kind: str) -> Program | None:
    """The county's exit or return program, if the household's status allows it now."""
    if not policy.household_status_fits(household, kind):
        return None
    return status_programs(user, household, kind).first()


def _propose(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    household = _household(request.user, pk)
    program = status_program(request.user, household, kind)
    if program is None:
        raise Http404(_("This household's status does not allow it."))
    form = FORMS[kind](request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            app = application_create(
                actor=request.user,
                household_id=household.pk,
                program_id=program.pk,
                change=form.cleaned_data,
            )
        except InvalidInput as exc:
            add_service_errors(form, exc.errors)
        except ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request,
                _("Filed. Record the village's appraisal, then submit it.")
                if kind == Program.Kind.RETURN
                else _(
                    "Filed. Record the village's appraisal and upload the head's signed "
                    "confirmation, then submit it."
                ),
            )
            return redirect("workflows:cadre_application", pk=app.pk)
    return render(
        request,
        "workflows/status/propose.html",
        {
            "household": household,
            "program": program,
            "form": form,
            "title": TITLES[kind],
            "kind": kind,
            "version": program_version_current(program),
        },
    )


@cadre_required
def household_exit(request: HttpRequest, pk: int) -> HttpResponse:
    return _propose(request, pk, Program.Kind.EXIT)


@cadre_required
def household_return(request: HttpRequest, pk: int) -> HttpResponse:
    return _propose(request, pk, Program.Kind.RETURN)


def facts_form(app: Application, change: StatusChange | None, data: Any = None) -> Form | None:
    """The form that corrects an exit's or a return's facts, while it may be changed."""
    if change is None or not policy.is_editable(app):
        return None
    form_class = FORMS[app.program.kind]
    initial = {name: getattr(change, name) for name in form_class.base_fields}
    return form_class(data, initial=initial)


@cadre_required
def application_facts(request: HttpRequest, pk: int) -> HttpResponse:
    app = _application(request.user, pk, "application.edit")
    change = StatusChange.objects.filter(application=app).first()
    form = facts_form(app, change, request.POST if request.method == "POST" else None)
    if form is None:
        raise Http404(_("Nothing to correct here."))
    if request.method == "POST" and form.is_valid():
        try:
            application_edit(actor=request.user, application_id=app.pk, change=form.cleaned_data)
        except InvalidInput as exc:
            add_service_errors(form, exc.errors)
        except ServiceError as exc:
            messages.error(request, exc.message)
            return redirect("workflows:cadre_application", pk=app.pk)
        else:
            messages.success(request, _("The facts are saved."))
            return redirect("workflows:cadre_application", pk=app.pk)
    return render(
        request,
        "workflows/status/facts.html",
        {"app": app, "household": app.household, "form": form},
        status=400 if request.method == "POST" else 200,
    )


urlpatterns = [
    path("cadre/households/<int:pk>/exit/", household_exit, name="cadre_household_exit"),
    path("cadre/households/<int:pk>/return/", household_return, name="cadre_household_return"),
    path("cadre/applications/<int:pk>/facts/", application_facts, name="cadre_application_facts"),
]
