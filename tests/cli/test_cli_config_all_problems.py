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
