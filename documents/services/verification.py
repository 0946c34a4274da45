"""What a document carries so that anyone can check it: a short verification code, printed
on the paper and in its QR code, and the public URL of its verification page. The check
itself is a read (``documents.selectors.document_verify``)."""

from __future__ import annotations

import base64
import secrets

from django.conf import settings
from django.urls import reverse

CODE_LENGTH = 10


def verification_code_new() -> str:
    """10 characters of base32 (50 random bits): short enough to type from paper."""
    return base64.b32encode(secrets.token_bytes(8)).decode("ascii")[:CODE_LENGTH]


def verification_url(code: str) -> str:
    """The public page a QR code points to. The host comes from ``FUPIN_PUBLIC_URL`` (a
    setting, or the environment), so that the printed URL does not depend on a request."""
    return str(settings.FUPIN_PUBLIC_URL).rstrip("/") + reverse(
        "documents:verify_code", args=[code]
    )
