from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from ciqueue.timefmt import iso_z, parse_instant

UTC = timezone.utc


@pytest.mark.parametrize(
    "text", ["2026-03-01T02:00:00Z", "2026-03-01T02:00:00z", "2026-03-01T02:00:00+00:00"]
)
def test_a_trailing_z_reads_as_utc(text: str) -> None:
    assert parse_instant(text) == datetime(2026, 3, 1, 2, tzinfo=UTC)
    assert parse_instant(text).utcoffset() == timedelta(0)


def test_no_offset_stays_naive_and_garbage_raises() -> None:
    assert parse_instant("2026-03-01T02:00").tzinfo is None
    with pytest.raises(ValueError):
        parse_instant("tomorrow")


def test_iso_z_writes_utc_to_the_second() -> None:
    shanghai = timezone(timedelta(hours=8))
    assert iso_z(datetime(2026, 3, 1, 10, 0, 5, 123456, tzinfo=shanghai)) == "2026-03-01T02:00:05Z"
