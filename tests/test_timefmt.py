from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from ciqueue.timefmt import DURATION_RULE, format_duration, iso_z, parse_duration, parse_instant

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


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("90m", 5400), ("1h30m", 5400), ("7d", 604800), ("1d2h3m4s", 93784), ("0m", 0)],
)
def test_one_duration_grammar(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)
    assert parse_duration(format_duration(timedelta(seconds=seconds))) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "text", ["", "h", "1h 30m", " 2h", "2h\n", "2H", "30m2h", "1w", "1.5h", "1234567d", None]
)
def test_not_a_duration(text: object) -> None:
    assert parse_duration(text) is None


def test_duration_text_is_shortest() -> None:
    assert [format_duration(timedelta(seconds=s)) for s in (0, 45, 90, 3600, 93784)] == [
        "0s",
        "45s",
        "1m30s",
        "1h",
        "1d2h3m4s",
    ]
    assert DURATION_RULE == "must be a duration like 30m, 2h, 1h30m or 45s"


# One grammar on every Python: 3.11's fromisoformat reads forms 3.10 (the SCF runtime) refuses, so
# these are judged by ciqueue's own reader, the same on both.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01", datetime(2026, 3, 1)),
        ("2026-03-01T02:00", datetime(2026, 3, 1, 2)),
        ("2026-03-01 02:00:05", datetime(2026, 3, 1, 2, 0, 5)),
        ("2026-03-01t02:00:05.5", datetime(2026, 3, 1, 2, 0, 5, 500000)),
        ("2026-03-01T02:00:05.1234567", None),
        ("2026-03-01T10:00+08:00", datetime(2026, 3, 1, 2, tzinfo=UTC)),
        ("2026-12-01T22:07:38+0800", datetime(2026, 12, 1, 14, 7, 38, tzinfo=UTC)),  # as CI writes it
        ("2026-03-01T02:00-05:30", datetime(2026, 3, 1, 7, 30, tzinfo=UTC)),
        ("20260301T0200", None),  # basic format: 3.11 reads it, 3.10 does not
        ("2026-W09-1", None),  # week date: the same
        ("2026-03-01T02", None),  # hour alone
        ("2026-03-01x02:00", None),  # any separator: 3.10 reads it
        ("2026-03-01Z", None),  # an offset needs a time
        ("2026-03-01T02:00+24:00", None),
        ("2026-02-30T02:00Z", None),
        (" 2026-03-01T02:00Z", None),
        ("", None),
    ],
)
def test_parse_instant_is_one_grammar_on_every_python(text: str, expected: datetime | None) -> None:
    if expected is None:
        with pytest.raises(ValueError, match="must be an ISO 8601 time like 2026-03-01T02:00:00Z"):
            parse_instant(text)
    else:
        assert parse_instant(text) == expected
        assert (parse_instant(text).tzinfo is None) == (expected.tzinfo is None)
