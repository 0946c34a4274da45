from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.utils import timezone

from common import clock


def test_now_follows_the_real_clock_unless_frozen() -> None:
    before = timezone.now()
    now = clock.now()
    assert before <= now <= timezone.now()


def test_frozen_at_sets_now_and_today_in_the_county_and_nests() -> None:
    outer = datetime(2016, 4, 18, 16, 30, tzinfo=UTC)  # 00:30 on the 19th in Shanghai
    inner = datetime(2017, 1, 1, tzinfo=UTC)
    with clock.frozen_at(outer):
        assert clock.now() == outer
        assert clock.today() == date(2016, 4, 19)
        with clock.frozen_at(inner):
            assert clock.now() == inner
        assert clock.now() == outer
    assert clock.now() != outer


def test_frozen_at_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="aware"):
        with clock.frozen_at(datetime(2016, 4, 18)):
            pass
