"""One confirmation for every action that cannot be undone, with and without JavaScript.

A button carries its question (``data-confirm``). With JavaScript, the site's dialog
(``workflows/confirm.js``) asks it and sends ``confirmed=1`` with the form. Without, the view
calls :func:`confirmation_page` first: the form came without ``confirmed``, so the answer is
a page asking the same question, with the form's fields ready to be sent again (and a file
field to choose again, for an upload). Nothing is done until the question is answered."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

CONFIRMED = "confirmed"
_NOT_REPEATED = {"csrfmiddlewaretoken", CONFIRMED}


def is_confirmed(request: HttpRequest) -> bool:
    return request.POST.get(CONFIRMED) == "1"


def confirmation_page(
    request: HttpRequest, question: str, *, cancel_url: str, action: str = ""
) -> HttpResponse | None:
    """None when the POST was confirmed; otherwise the page asking ``question`` (status
    200: nothing was refused, nothing was done)."""
    if is_confirmed(request):
        return None
    fields = [
        (name, value)
        for name in request.POST
        if name not in _NOT_REPEATED
        for value in request.POST.getlist(name)
    ]
    return render(
        request,
        "confirm.html",
        {
            "question": question,
            "fields": fields,
            # Each file field, and whether it carried several files (photos): chosen again.
            "files": [(name, len(request.FILES.getlist(name)) > 1) for name in request.FILES],
            "action": action or request.get_full_path(),
            "cancel_url": cancel_url,
        },
    )
