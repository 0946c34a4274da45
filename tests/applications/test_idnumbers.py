"""Resident ID numbers (GB 11643): check digit, validation, masking, encryption."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from applications import idnumbers
from tests.factories import id_number, with_wrong_check_digit


def test_id_check_digit_matches_published_example() -> None:
    # The example number of GB 11643-1999.
    assert idnumbers.id_check_digit("11010519491231002") == "X"


def test_id_check_digit_of_generated_number_validates() -> None:
    number = id_number()

    assert idnumbers.validate_id_number(number) == number


def test_validate_id_number_refuses_wrong_check_digit() -> None:
    with pytest.raises(ValidationError) as error:
        idnumbers.validate_id_number(with_wrong_check_digit(id_number()))

    assert error.value.code == "id_check_digit"


def test_validate_id_number_refuses_impossible_birth_date() -> None:
    first17 = "62090219990230001"

    with pytest.raises(ValidationError) as error:
        idnumbers.validate_id_number(first17 + idnumbers.id_check_digit(first17))

    assert error.value.code == "id_birth"


@pytest.mark.parametrize(
    "value", ["", "62090219800101123", "6209021980010112345", "62090219800101123Y", "６２０９"]
)
def test_validate_id_number_refuses_bad_format(value: str) -> None:
    with pytest.raises(ValidationError) as error:
        idnumbers.validate_id_number(value)

    assert error.value.code == "id_format"


def test_validate_id_number_normalises_lowercase_x_and_spaces() -> None:
    assert idnumbers.validate_id_number(" 11010519491231002x ") == "11010519491231002X"


def test_mask_id_number_keeps_region_and_last_four() -> None:
    assert idnumbers.mask_id_number("620902198001011234") == "620902********1234"


def test_encrypt_hides_number_and_decrypts_back() -> None:
    number = id_number()

    token = idnumbers.encrypt(number)

    assert number not in token
    assert idnumbers.decrypt(token) == number


def test_encrypt_differs_each_time() -> None:
    number = id_number()

    assert idnumbers.encrypt(number) != idnumbers.encrypt(number)


def test_lookup_hash_stable_and_keyed() -> None:
    number = id_number()

    assert idnumbers.lookup_hash(number) == idnumbers.lookup_hash(number)
    assert number not in idnumbers.lookup_hash(number)
    assert idnumbers.lookup_hash(number) != idnumbers.lookup_hash(with_wrong_check_digit(number))


def test_mask_bank_card_keeps_first_and_last_four() -> None:
    assert idnumbers.mask_bank_card("6217000012345678") == "6217 **** **** 5678"


def test_validate_bank_card_refuses_letters() -> None:
    with pytest.raises(ValidationError):
        idnumbers.validate_bank_card("6217 abcd 1234")
