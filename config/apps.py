"""Third-party apps under the site's own names, so that the admin speaks the user's language
(their own configurations name themselves in untranslated English)."""

from __future__ import annotations

from axes.apps import AppConfig as AxesAppConfig
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from django_tasks_db.apps import TasksAppConfig


class TasksDatabaseConfig(TasksAppConfig):
    verbose_name = _("Background tasks")  # type: ignore[assignment]


class AxesConfig(AxesAppConfig):  # type: ignore[misc]
    verbose_name = _("Sign-in lockouts")


# Words that other packages' templates and models ask to be translated, but whose own
# Chinese catalogs lack them (Django's admin app list, viewflow, django-tasks): listed here
# so that the site's catalog carries them.
THIRD_PARTY_MESSAGES = (
    gettext_noop("Model name"),
    gettext_noop("Add link"),
    gettext_noop("Change or view list link"),
    gettext_noop("Workflow"),
    gettext_noop("Process"),
    gettext_noop("Process list"),
    gettext_noop("Task"),
    gettext_noop("Tasks"),
    gettext_noop("Task Result"),
    gettext_noop("Task Results"),
    gettext_noop("access attempt"),
    gettext_noop("access attempts"),
)
