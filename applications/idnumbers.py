"""Resident ID numbers (GB 11643-1999) and bank cards: validation, encryption, lookup hash,
masking. The clear number exists only in memory; the database holds a Fernet ciphertext,
a keyed hash (HMAC-SHA256) for uniqueness and lookup, and the masked form for display."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import date
from functools import lru_cache

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_ID_RE = re.compile(r"^\d{17}[\dX]$")


def id_check_digit(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def normalize_id_number(value: str) -> str:
    return (value or "").strip().upper().replace(" ", "")


def validate_id_number(value: str) -> str:
    """Return the normalised number or raise ``ValidationError`` with a clear message."""
    number = normalize_id_number(value)
    if not _ID_RE.match(number):
        raise ValidationError(
            _("An ID number has 18 characters: 17 digits and a final digit or X."),
            code="id_format",
        )
    try:
        date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise ValidationError(
            _("The ID number holds an impossible date of birth."), code="id_birth"
        ) from None
    if id_check_digit(number[:17]) != number[17]:
        raise ValidationError(
            _("The ID number's check digit is wrong; please check the number."),
            code="id_check_digit",
        )
    return number


def mask_id_number(number: str) -> str:
    return f"{number[:6]}********{number[-4:]}"


def normalize_bank_card(value: str) -> str:
    return re.sub(r"[\s-]", "", value or "")


def validate_bank_card(value: str) -> str:
    card = normalize_bank_card(value)
    if not re.fullmatch(r"\d{12,19}", card):
        raise ValidationError(_("A bank card number has 12 to 19 digits."), code="bank_card")
    return card


# The separator of transcribed minority names (阿依古丽·买买提) is typed in many ways.
_NAME_DOTS = str.maketrans({"•": "·", "・": "·", "．": "·", ".": "·", "‧": "·"})


def normalize_person_name(value: str) -> str:
    return re.sub(r"\s", "", (value or "").translate(_NAME_DOTS))


def card_holder_matches(holder: str, head_name: str) -> bool:
    """Is the name on the bank card the household head's (DOMAIN rule 5)? Spaces and the
    way the middle dot of a transcribed name is typed do not count."""
    return bool(holder.strip()) and normalize_person_name(holder) == normalize_person_name(
        head_name
    )


def mask_bank_card(card: str) -> str:
    return f"{card[:4]} **** **** {card[-4:]}" if card else ""


def mask_name(name: str) -> str:
    """A person's name as a public announcement shows it: the first character and, for
    three characters or more, the last; the others starred (王*, 王*玉, 阿**·*提)."""
    name = (name or "").strip()
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "".join("·" if c == "·" else "*" for c in name[1:-1]) + name[-1]


def mask_phone(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 7 else "****"


@lru_cache(maxsize=1)
def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(k.encode()) for k in settings.FUPIN_ID_KEYS])


@lru_cache(maxsize=1)
def _hash_key() -> bytes:
    # The lookup hash must stay stable across encryption-key rotation, so it is derived
    # from the oldest key, which rotation keeps last in the list.
    base = base64.urlsafe_b64decode(settings.FUPIN_ID_KEYS[-1].encode())
    return hashlib.sha256(b"fupin-lookup-hash\x00" + base).digest()


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def encrypt_bytes(value: bytes) -> bytes:
    """A file that holds clear numbers (a registry sheet waiting to be imported), for the
    time it is kept."""
    return _fernet().encrypt(value)


def decrypt_bytes(token: bytes) -> bytes:
    return _fernet().decrypt(token)


def decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def lookup_hash(value: str) -> str:
    return hmac.new(_hash_key(), value.encode(), hashlib.sha256).hexdigest()
