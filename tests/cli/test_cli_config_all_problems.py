"""``ciqueue config check`` names every broken rule of a file at once, field rules and the rules
that span fields together (a bad timezone does not hide the rest)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ciqueue.cli import main as cli

SIX_PROBLEMS = """\
version: 1
timezone: Mars/Olympus
targets:
  both:
    bucket: media-1250000000
    region: ap-guangzhou
    queue_ids: [p8366c460c67b4c65a9bf81b41eaa3c4b]
    name_pattern: "x-*"
  ok:
    bucket: media-1250000000
    region: ap-guangzhou
    name_pattern: "transcode-*"
windows:
  - name: nightly
    targets: [nope]
    start: "0 0 2 * * * *"
    duration: 2h
  - name: nightly
    targets: [ok]
    start: "0 0 3 * * * *"
    duration: 1h
  - name: loose
    targets: [ok]
    start: "0 0 5 * * * *"
rotations:
  - name: cb
    targets: [ok]
    callbacks:
      - type: Url
        url: https://example.com/hook
"""


def test_a_bad_timezone_and_five_other_problems_are_all_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "schedule.yaml"
    path.write_text(SIX_PROBLEMS, encoding="utf-8")

    code = cli.main(["config", "check", str(path)])

    captured = capsys.readouterr()
    lines = [line.removeprefix(f"{path}: ") for line in captured.err.splitlines()]
    assert (code, captured.out) == (2, "")
    assert len(lines) == 6, lines
    assert lines[0].startswith("timezone: ")
    assert sorted(lines[1:]) == sorted(
        [
            "targets.both: needs exactly one of queue_ids or name_pattern",
            "windows[0].targets[0]: unknown target 'nope' (defined: both, ok)",
            "windows[1].name: duplicate window name 'nightly' (also windows[0])",
            "windows[2]: start needs exactly one of end (cron) or duration",
            "rotations[0]: needs exactly one of every or at",
        ]
    )


def test_cross_checks_skip_the_parts_already_broken(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A target whose own fields are broken is still a defined name (no false "unknown target"),
    # and a window whose fields are broken is judged by those alone (no crash, no second line).
    path = tmp_path / "schedule.yaml"
    path.write_text(
        "version: 1\ntargets:\n  t:\n    bucket: BAD\n    region: ap-guangzhou\n    name_pattern: '*'\n"
        "windows:\n  - name: w\n    targets: [t]\n    start: 'not a cron'\n    duration: 2h\n"
        "  - name: w2\n    targets: [t, gone]\n    start: '0 0 2 * * * *'\n    duration: 1h\n",
        encoding="utf-8",
    )

    code = cli.main(["config", "check", str(path)])

    lines = [line.removeprefix(f"{path}: ") for line in capsys.readouterr().err.splitlines()]
    assert code == 2
    assert [line.split(":")[0] for line in lines] == [
        "targets.t.bucket",
        "windows[0].start",
        "windows[1].targets[1]",
    ], lines
    assert lines[2] == "windows[1].targets[1]: unknown target 'gone' (defined: t)"


NEVER_FIRES = """\
version: 1
timezone: Asia/Shanghai
targets:
  t:
    bucket: media-1250000000
    region: ap-guangzhou
    name_pattern: "transcode-*"
windows:
  - name: feb
    targets: [t]
    start: "0 0 2 31 2 ? *"
    duration: 2h
  - name: last-year
    targets: [t]
    start: "0 0 2 1 1 ? 2025"
    duration: 2h
"""


def test_crons_that_can_never_fire_are_each_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "schedule.yaml"
    path.write_text(NEVER_FIRES, encoding="utf-8")
    monkeypatch.setenv("CIQUEUE_NOW", "2026-12-01T00:00:00Z")

    code = cli.main(["config", "check", str(path)])

    captured = capsys.readouterr()
    assert (code, captured.out) == (2, "")
    assert captured.err.splitlines() == [
        f"{path}: windows[0].start: can never fire: no date from 1970 through 2099 matches "
        "'0 0 2 31 2 ? *' (a day its months never have, such as 30 February or 31 April, "
        "or none in its years)",
        f"{path}: windows[1].start: never fires again: its last time was 2025-01-01 Wed 02:00 CST, "
        "before now (2026-12-01 Tue 08:00 CST)",
    ]
