"""The admin reads and never writes: every model it shows, ours and the libraries' (viewflow's
processes and tasks, the task queue, users), refuses adding, changing and deleting."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.test import Client, RequestFactory

from tests.factories import World

pytestmark = pytest.mark.django_db


def test_every_model_in_the_admin_is_read_only(admin_user: Any) -> None:
    request = RequestFactory().get("/admin/")
    request.user = admin_user
    registered = admin.site._registry
    assert {m._meta.label for m in registered} >= {
        "viewflow.Process",
        "viewflow.Task",
        "applications.Household",
        "audit.AuditEntry",
    }
    for model, model_admin in registered.items():
        assert not model_admin.has_add_permission(request), model
        assert not model_admin.has_change_permission(request), model
        assert not model_admin.has_delete_permission(request), model


def test_saving_a_task_in_the_admin_is_refused(world: World, admin_user: Any) -> None:
    from viewflow.workflow.models import Task

    app = world.application("township_review")
    task = Task.objects.filter(process__applicationprocess__application=app).order_by("-pk").first()
    assert task is not None
    client = Client()
    client.force_login(admin_user)

    page = client.get(f"/admin/viewflow/task/{task.pk}/change/")
    saved = client.post(f"/admin/viewflow/task/{task.pk}/change/", {"status": "DONE"})

    assert page.status_code == 200  # viewing is allowed
    assert saved.status_code == 403
    task.refresh_from_db()
    assert task.status != "DONE"
