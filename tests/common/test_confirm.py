"""The confirmation page: nothing until answered, and the same form again when it is."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory

from common.confirm import confirmation_page, is_confirmed

pytestmark = pytest.mark.django_db


def _post(data: dict[str, object]) -> object:
    request = RequestFactory().post("/review/approve/?from=queue", data)
    request.user = AnonymousUser()
    return request


def test_a_confirmed_post_goes_on() -> None:
    request = _post({"ids": ["1", "2"], "confirmed": "1"})
    assert is_confirmed(request)  # type: ignore[arg-type]
    assert confirmation_page(request, "确定？", cancel_url="/") is None  # type: ignore[arg-type]


@pytest.mark.parametrize("answer", ["", "0", "yes"])
def test_anything_but_one_is_not_an_answer(answer: str) -> None:
    request = _post({"confirmed": answer})
    assert not is_confirmed(request)  # type: ignore[arg-type]


def test_an_unconfirmed_post_gets_the_page_with_every_field_once_more() -> None:
    request = _post({"ids": ["1", "2"], "reason": "<b>不符合</b>", "csrfmiddlewaretoken": "x"})

    response = confirmation_page(request, "确定审批吗？", cancel_url="/review/queue/")  # type: ignore[arg-type]

    assert response is not None and response.status_code == 200
    html = response.content.decode()
    assert "确定审批吗？" in html
    assert 'action="/review/approve/?from=queue"' in html
    assert re.findall(r'name="ids" value="(\d)"', html) == ["1", "2"]
    assert 'value="&lt;b&gt;不符合&lt;/b&gt;"' in html  # escaped, never markup
    assert 'value="x"' not in html  # the old token is not repeated
    assert 'name="confirmed" value="1"' in html
    assert 'href="/review/queue/"' in html
    assert 'type="file"' not in html and "multipart" not in html


def test_an_upload_is_asked_for_again() -> None:
    request = _post({"file": SimpleUploadedFile("return.txt", b"H|")})

    response = confirmation_page(request, "确定导入吗？", cancel_url="/")  # type: ignore[arg-type]

    assert response is not None
    html = response.content.decode()
    assert 'enctype="multipart/form-data"' in html
    assert re.search(r'<input type="file"[^>]*name="file" required>', html)


def test_several_photos_are_asked_for_again_as_several() -> None:
    photos = [SimpleUploadedFile(f"{n}.png", b"png") for n in range(3)]
    request = _post({"photos": photos, "result": "passed"})

    response = confirmation_page(request, "确定？", cancel_url="/")  # type: ignore[arg-type]

    assert response is not None
    assert re.search(
        r'<input type="file"[^>]*name="photos" multiple required>', response.content.decode()
    )
