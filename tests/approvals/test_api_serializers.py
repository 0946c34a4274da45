"""The application list's serialiser: its fast path gives exactly what DRF's own field by
field serialisation gives."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from approvals.api import ApplicationSerializer, ApplicationViewSet
from tests.factories import World

pytestmark = pytest.mark.django_db


def _drf(serializer: Any, instance: Any) -> Any:
    """DRF's own representation, nested items included."""
    data = serializers.ModelSerializer.to_representation(serializer, instance)
    item_serializer = serializer.fields["items"].child
    data["items"] = [
        serializers.ModelSerializer.to_representation(item_serializer, line)
        for line in instance.items.all()
    ]
    return data


@pytest.mark.parametrize("username", ["reviewer_t1", "cadre_v1", "approver_a"])
def test_application_serializer_matches_drf(world: World, username: str) -> None:
    for status in ("draft", "township_review", "county_review", "approved", "returned"):
        world.application(status)
    user = world.user(username)
    request = Request(APIRequestFactory().get("/api/v1/applications/"))
    request.user = user
    view = ApplicationViewSet(request=request, action="list", format_kwarg=None, kwargs={})
    rows = list(view.get_queryset())
    serializer: Any = ApplicationSerializer(rows, many=True, context={"request": request})

    fast = serializer.data

    assert rows
    assert serializer.child.__dict__["_fast_plan"]  # the fast path ran, not the fallback
    assert list(fast) == [_drf(serializer.child, row) for row in rows]
