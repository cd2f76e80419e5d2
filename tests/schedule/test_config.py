"""Config loading: YAML/JSON text and files, the example file, exact error paths, JSON Schema."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from ciqueue.ci.identifiers import BUCKET_RULE
from ciqueue.cli.main import main as cli_main
from ciqueue.errors import InvalidInput, Problem
from ciqueue.schedule.config import Config, config_json_schema, match_targets
from ciqueue.schedule.load import load_config, parse_config
from ciqueue.schedule.windows import windows_state
from conftest import CONFIG_NOW, NOON_UTC, PICS_TARGET

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "schedule.yaml"
QID = "p" + "a" * 32

BASE: dict[str, Any] = {
    "version": 1,
    "timezone": "Asia/Shanghai",
    "targets": {
        "a": {"bucket": "media-1250000000", "region": "ap-guangzhou", "kind": "media", "queue_ids": [QID]},
        "b": {"bucket": "media-1250000000", "region": "ap-guangzhou", "name_pattern": "img-*"},
    },
    "windows": [
        {"name": "nightly", "targets": ["a"], "start": "0 0 2 * * * *", "duration": "2h"},
        {
            "name": "weekend",
            "targets": ["b"],
            "periods": [{"days": ["sat", "sun"], "start": "23:00", "end": "01:30"}],
        },
    ],
    "rotations": [
        {
            "name": "on-call",
            "targets": ["a"],
            "callbacks": [
                {"type": "Url", "url": "https://day.example.com/cb"},
                {"type": "Url", "url": "https://night.example.com/cb", "format": "JSON"},
            ],
            "at": [{"time": "08:00", "callback": 0}, {"time": "20:00", "callback": 1}],
        }
    ],
}


def with_change(path: str, value: Any) -> dict[str, Any]:
    """BASE with the value at a dotted path (``windows.1.periods.0.end``) set; ``...`` deletes."""
    data = copy.deepcopy(BASE)
    parts = path.split(".")
    node: Any = data
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last: Any = int(parts[-1]) if isinstance(node, list) else parts[-1]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return data


def error_of(data: Any) -> str:
    with pytest.raises(InvalidInput) as caught:
        parse_config(data, now=CONFIG_NOW)
    return str(caught.value)


def test_example_file_loads_and_fills_zones() -> None:
    config = load_config(EXAMPLE, now=CONFIG_NOW)
    assert config.timezone == "Asia/Shanghai"
    assert list(config.targets) == ["media-transcode", "thumbnails", "docs"]
    assert [w.name for w in config.windows] == [
        "nightly",
        "weekend-storage",
        "month-end-reindex",
        "migration",
    ]
    assert [w.timezone for w in config.windows] == [
        "Asia/Shanghai",
        "Asia/Shanghai",
        "Asia/Shanghai",
        "Europe/Berlin",
    ]
    assert config.windows[2].enforced is True
    assert config.rotations[1].callbacks[1].mq_name == "ci-events-b"
    assert config.settings.concurrency == 8 and config.settings.shard_size == 200
    # the same file as a string path works too
    assert load_config(str(EXAMPLE), now=CONFIG_NOW) == config


def test_yaml_and_json_text_give_the_same_config() -> None:
    from_json = load_config(json.dumps(BASE), now=CONFIG_NOW)
    yaml_text = """
version: 1
timezone: Asia/Shanghai
targets:
  a:
    bucket: media-1250000000
    region: ap-guangzhou
    kind: media
    queue_ids: [paaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]
  b: {bucket: media-1250000000, region: ap-guangzhou, name_pattern: img-*}
windows:
  - {name: nightly, targets: [a], start: "0 0 2 * * * *", duration: 2h}
  - name: weekend
    targets: [b]
    periods: [{days: [sat, sun], start: 23:00, end: 01:30}]
rotations:
  - name: on-call
    targets: [a]
    callbacks:
      - {type: Url, url: "https://day.example.com/cb"}
      - {type: Url, url: "https://night.example.com/cb", format: JSON}
    at: [{time: 08:00, callback: 0}, {time: 20:00, callback: 1}]
"""
    # unquoted 23:00 and 20:00 stay strings (YAML 1.1 would read 20:00 as the number 1200)
    assert load_config(yaml_text, now=CONFIG_NOW) == from_json
    assert from_json.settings.concurrency == 8
    assert from_json.windows[0].timezone == "Asia/Shanghai"


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("windows.1.periods.0.end", "25:00", "windows[1].periods[0].end: must be HH:MM (got '25:00')"),
        (
            "windows.0.targets",
            ["a", "b", "foo"],
            "windows[0].targets[2]: unknown target 'foo' (defined: a, b)",
        ),
        (
            "rotations.0.callbacks.1.url",
            "http://10.0.0.5/cb",
            "rotations[0].callbacks[1].url: must not be a private-network address"
            " (10.0.0.5 is in the RFC 1918 private range 10.0.0.0/8)",
        ),
        (
            "rotations.0.callbacks.0.url",
            "ftp://files.example.com/cb",
            "rotations[0].callbacks[0].url: must start with http:// or https:// (got ftp://)",
        ),
        (
            "windows.0.start",
            "0 0 25 * * * *",
            "windows[0].start: cron field 3 (hour): 25 is out of range 0-23",
        ),
        (
            "targets.a.kind",
            "img",
            "targets.a.kind: must be one of pic, media, doc, asr, ai, file (got 'img')",
        ),
        ("version", 2, "version: must be 1 (got 2)"),
        ("version", ..., "version: is required"),
        (
            "windows.0.duration",
            "90 minutes",
            "windows[0].duration: must be a duration like 30m, 2h, 1h30m or 45s (got '90 minutes')",
        ),
        ("windows.0.end", "0 0 4 * * * *", "windows[0]: start needs exactly one of end (cron) or duration"),
        (
            "windows.0.exclude",
            ["2026-10-01", "2026-02-30"],
            "windows[0].exclude[1]: must be a date YYYY-MM-DD (got '2026-02-30')",
        ),
        (
            "timezone",
            "Mars/Olympus",
            "timezone: unknown time zone 'Mars/Olympus' (use an IANA name such as Asia/Shanghai)",
        ),
        (
            "rotations.0.at.1.callback",
            2,
            "rotations[0].at[1].callback: must be a callback index 0-1 (got 2)",
        ),
        ("rotations.0.at.1.time", "8pm", "rotations[0].at[1].time: must be HH:MM (got '8pm')"),
        (
            "rotations.0.callbacks.0",
            {"type": "TDMQ", "mq_region": "gz"},
            "rotations[0].callbacks[0].mq_name: is required for type TDMQ",
        ),
        (
            "rotations.0.callbacks.0",
            {"type": "Email", "url": "https://a.example.com"},
            "rotations[0].callbacks[0].type: must be one of Url or TDMQ (got 'Email')",
        ),
        (
            "rotations.0.callbacks.0.event",
            "JobDone",
            "rotations[0].callbacks[0].event: must be TaskFinish and/or WorkflowFinish, comma-separated"
            " (got 'JobDone')",
        ),
        ("targets.b.queue_ids", [QID], "targets.b: needs exactly one of queue_ids or name_pattern"),
        ("settings", {"concurrency": 0}, "settings.concurrency: must be >= 1 (got 0)"),
        (
            "windows.1.periods.0.days",
            ["mon", "funday"],
            "windows[1].periods[0].days: must be day names mon..sun or ranges like mon-fri (got 'funday')",
        ),
        (
            "targets.a.bucket",
            "Media",
            f"targets.a.bucket: {BUCKET_RULE} (got 'Media')",
        ),
        (
            "windows.0.strat",
            "x",
            "windows[0].strat: unknown key (allowed: name, targets, description, start, end, duration,"
            " periods, dates, exclude, timezone, enforced)",
        ),
        (
            "targets.a.zz",
            1,
            "targets.a.zz: unknown key (allowed: bucket, region, kind, queue_ids, name_pattern)",
        ),
        ("windows", 3, "windows: must be a list (got a number)"),
        ("windows.1.name", "nightly", "windows[1].name: duplicate window name 'nightly' (also windows[0])"),
        ("windows.0.enforced", "yes", "windows[0].enforced: must be true or false (got 'yes')"),
        ("rotations.0.callbacks", [], "rotations[0].callbacks: must not be empty"),
    ],
)
def test_every_error_names_the_exact_spot(path: str, value: Any, message: str) -> None:
    assert error_of(with_change(path, value)) == message


def test_more_shape_rules() -> None:
    one_off = with_change(
        "windows.0",
        {"name": "w", "targets": ["a"], "dates": [{"start": "2026-05-01T06:00", "end": "2026-05-01T02:00"}]},
    )
    assert error_of(one_off) == "windows[0].dates[0].end: must be after start (got '2026-05-01T02:00')"
    empty = with_change("windows.0", {"name": "w", "targets": ["a"]})
    assert error_of(empty) == "windows[0]: needs start (cron), periods or dates"
    every = with_change("rotations.0.at", ...)
    every["rotations"][0]["every"] = "12h"
    assert (
        error_of(every)
        == "rotations[0].anchor: is required with every (the local date-time callback 0 starts)"
    )
    both = copy.deepcopy(BASE)
    both["rotations"].append({**both["rotations"][0], "name": "second"})
    assert error_of(both) == "rotations[1].targets[0]: target 'a' is already rotated by 'on-call'"


def test_all_problems_are_reported_together() -> None:
    data = with_change("windows.1.periods.0.end", "25:00")
    data["targets"]["a"]["kind"] = "img"
    with pytest.raises(InvalidInput) as caught:
        parse_config(data, now=CONFIG_NOW)
    assert caught.value.problems == [
        Problem("targets.a.kind", "must be one of pic, media, doc, asr, ai, file (got 'img')"),
        Problem("windows[1].periods[0].end", "must be HH:MM (got '25:00')"),
    ]


def test_text_and_file_errors() -> None:
    with pytest.raises(InvalidInput) as caught:
        load_config("version: 1\nwindows: [\n", now=CONFIG_NOW)
    assert str(caught.value).startswith("config: is not valid YAML (line 3 column 1: ")
    with pytest.raises(InvalidInput) as caught:
        load_config('{"version": 1,', now=CONFIG_NOW)
    assert str(caught.value).startswith("config: is not valid JSON (line 1 column 15: ")
    with pytest.raises(InvalidInput) as caught:
        load_config("/nonexistent/schedule.yaml", now=CONFIG_NOW)
    assert str(caught.value) == "config: file not found: /nonexistent/schedule.yaml"
    with pytest.raises(InvalidInput) as caught:
        load_config("- a\n- b\n", now=CONFIG_NOW)
    assert str(caught.value) == "config: must be a mapping with version: 1 (got a list)"


def test_minimal_config_and_defaults() -> None:
    config = load_config("version: 1\n", now=CONFIG_NOW)
    assert config.timezone == "UTC"
    assert config.targets == {} and config.windows == [] and config.rotations == []
    assert config.settings.dry_run is False


def test_match_targets_by_ids_and_pattern() -> None:
    config = parse_config(BASE, now=CONFIG_NOW)
    assert match_targets(config, "media-1250000000", "ap-guangzhou", "media", QID, "anything") == ["a"]
    assert match_targets(config, "media-1250000000", "ap-guangzhou", "pic", "p" + "b" * 32, "img-small") == [
        "b"
    ]
    # pattern is case-sensitive; kind, region and bucket must match
    assert match_targets(config, "media-1250000000", "ap-guangzhou", "pic", "p" + "b" * 32, "IMG-small") == []
    assert match_targets(config, "media-1250000000", "ap-guangzhou", "media", "p" + "b" * 32, "img-x") == []
    assert match_targets(config, "media-1250000000", "ap-shanghai", "media", QID, "x") == []


def test_callback_description_hides_query_strings() -> None:
    data = with_change("rotations.0.callbacks.0.url", "https://hooks.example.com/ci?token=s3cret")
    callback = parse_config(data, now=CONFIG_NOW).rotations[0].callbacks[0]
    assert callback.describe() == "Url https://hooks.example.com/ci?token=***"
    assert callback.notify_fields() == {
        "State": "On",
        "Type": "Url",
        "Event": "TaskFinish",
        "ResultFormat": "XML",
        "Url": "https://hooks.example.com/ci?token=s3cret",
    }


def test_json_schema_for_editors() -> None:
    schema = config_json_schema()
    json.dumps(schema)  # serialisable
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["required"] == ["version"]
    assert set(schema["properties"]) == {"version", "timezone", "targets", "windows", "rotations", "settings"}
    window = schema["$defs"]["Window"]
    assert window["additionalProperties"] is False
    assert {"start", "end", "duration", "periods", "dates", "exclude", "enforced"} <= set(
        window["properties"]
    )
    assert schema["$defs"]["Callback"]["properties"]["type"]["enum"] == ["Url", "TDMQ"]


def test_a_window_that_opens_again_before_it_closes_is_refused() -> None:
    # Hourly starts lasting 2h overlap themselves: one endless stretch nobody means, and one the
    # evaluator could only bound by enumerating years of openings.
    data = {
        "version": 1,
        "timezone": "Asia/Shanghai",
        "targets": {"t": {"bucket": "demo-1250000000", "region": "ap-guangzhou", "name_pattern": "*"}},
        "windows": [{"name": "w", "targets": ["t"], "start": "0 0 * * * * *", "duration": "2h"}],
    }
    with pytest.raises(InvalidInput) as caught:
        parse_config(data, now=CONFIG_NOW)
    assert caught.value.field == "windows[0].duration"
    rule = caught.value.rule
    assert rule.startswith("must be shorter than the time between two starts: the window opening at ")
    assert "CST would not have closed when the next one starts at " in rule
    assert rule.endswith("CST ('2h')")
    data["windows"][0]["duration"] = "1h"  # back to back never closes either
    with pytest.raises(InvalidInput, match=r"windows\[0\]\.duration: must be shorter"):
        parse_config(data, now=CONFIG_NOW)
    data["windows"][0]["duration"] = "59m"
    assert parse_config(data, now=CONFIG_NOW).windows[0].duration == "59m"


def test_a_window_that_reopens_the_moment_it_closes_is_refused() -> None:
    data = {
        "version": 1,
        "timezone": "Asia/Shanghai",
        "targets": {"t": {"bucket": "demo-1250000000", "region": "ap-guangzhou", "name_pattern": "*"}},
        "windows": [{"name": "w", "targets": ["t"], "start": "* * * * * * *", "end": "0 0 */6 * * * *"}],
    }
    with pytest.raises(InvalidInput) as caught:
        parse_config(data, now=CONFIG_NOW)
    assert caught.value.field == "windows[0].end"
    assert caught.value.rule.startswith("must leave the window closed for a while: the opening at ")
    assert caught.value.rule.endswith("the moment the start cron fires again")


def test_a_window_opening_and_closing_too_often_is_refused_at_load() -> None:
    # Found by tests/test_fuzz_inputs.py: accepted before, it took a scheduler tick ~12 s to refuse.
    data = with_change("windows.0.start", "0 * * * * * *")
    del data["windows"][0]["duration"]
    data["windows"][0]["end"] = "30 */5 * * * * *"
    with pytest.raises(InvalidInput) as caught:
        parse_config(data, now=CONFIG_NOW)
    assert caught.value.problems == [
        Problem(
            "windows[0].start",
            "opens and closes more than 250 times in 8 days (from '0 * * * * * *' to "
            "'30 */5 * * * * *'); too often to evaluate: fire start or end less often",
        )
    ]
    data["windows"][0]["start"] = "0 0 * * * * *"
    data["windows"][0]["end"] = "0 30 * * * * *"  # hourly half-hour windows are fine
    assert parse_config(data, now=CONFIG_NOW).windows[0].end == "0 30 * * * * *"


def test_a_window_too_dense_to_evaluate_is_reported_as_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A window too dense to evaluate used to crash the CLI; it is bad config.
    data = {
        "version": 1,
        "timezone": "UTC",
        "targets": {"pics": PICS_TARGET},
        "windows": [{"name": "busy", "targets": ["pics"], "start": "*/2 * * * * * *", "duration": "1s"}],
    }
    # Loading refuses it, naming the field...
    path = tmp_path / "busy.json"
    path.write_text(json.dumps(data))
    code = cli_main(["plan", "--config", str(path), "--from", "2026-03-01T00:00Z"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"{path}: windows[0].start: opens and closes more than 250 times in 8 days")
    assert "Traceback" not in err
    # ...and the evaluator's own bound stays as a backstop for a config built around the loader.
    config = Config.model_validate(data)
    with pytest.raises(InvalidInput) as caught:
        windows_state(config.windows, NOON_UTC)
    assert caught.value.field == "windows.busy.start"
    assert caught.value.rule.startswith("fires too often to evaluate (more than 50000 openings")


def test_a_blank_or_odd_key_gets_a_readable_field_path() -> None:
    # Found by tests/test_fuzz_inputs.py: {" ": None} reported the field as a bare " ".
    with pytest.raises(InvalidInput) as caught:
        parse_config({"version": 1, " ": None}, now=CONFIG_NOW)
    assert [p.field for p in caught.value.problems] == ["[' ']"]


@pytest.mark.parametrize(
    "text", ["30s", "90m", "1h30m15s", "0d3h", "0m", "90 minutes", "1h 30m", "2H", "30m2h"]
)
def test_a_duration_gets_one_verdict_in_a_window_and_in_a_pause(text: str) -> None:
    """``timefmt.parse_duration`` is the grammar of both; each keeps its own bounds (both refuse 0)."""
    from ciqueue.app.commands import parse_command

    def verdict(call: Any) -> str | None:
        try:
            call()
        except InvalidInput as exc:
            return exc.rule
        return None

    window = verdict(lambda: parse_config(with_change("windows.0.duration", text), now=CONFIG_NOW))
    queue = {"bucket": "demo-1250000000", "region": "ap-guangzhou", "queue_id": QID}
    pause = verdict(lambda: parse_command({"action": "pause", "queues": [queue], "for": text}))
    assert window == pause
    if window is not None:
        assert window.startswith(("must be a duration like 30m, 2h, 1h30m or 45s", "must be longer than 0s"))


def test_windows_are_judged_around_the_given_now_not_the_wall_clock() -> None:
    """A window that reopens before it closes, only in 2029: refused when judged before 2029 (its
    next openings are sampled) for that, and when judged after it for never opening again."""
    data = with_change(
        "windows.0", {"name": "w", "targets": ["a"], "start": "0 0 * * * * 2029", "duration": "2h"}
    )
    with pytest.raises(InvalidInput) as caught:
        parse_config(data, now=CONFIG_NOW)
    assert caught.value.field == "windows[0].duration"
    assert caught.value.rule.startswith("must be shorter than the time between two starts")
    in_2031 = datetime(2031, 6, 1, tzinfo=timezone.utc)
    with pytest.raises(InvalidInput) as caught:
        parse_config(data, now=in_2031)
    assert caught.value.field == "windows[0].start"
    assert caught.value.rule.startswith("never fires again: its last time was 2029-12-31 Mon 23:00 CST")
    with pytest.raises(ValueError, match="aware"):
        parse_config(data, now=datetime(2031, 6, 1))


def test_imports_go_one_way_load_windows_config() -> None:
    """config (the models) imports neither windows nor load, not even inside a function; windows
    reads the models; load sits above both (it checks windows by their occurrences)."""
    import ast

    import ciqueue.schedule.config as config_module
    import ciqueue.schedule.load as load_module
    import ciqueue.schedule.windows as windows_module

    def imported(module: Any) -> set[str]:
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}

    assert not imported(config_module) & {"ciqueue.schedule.windows", "ciqueue.schedule.load"}
    assert "ciqueue.schedule.config" in imported(windows_module)
    assert "ciqueue.schedule.load" not in imported(windows_module)
    assert {"ciqueue.schedule.config", "ciqueue.schedule.windows"} <= imported(load_module)


# --- hostile shapes: deep nesting and alias bombs are bad input, never a RecursionError ----------

# "Billion laughs": each level lists the one before ten times; the last is where a model reads it.
BOMB = "".join(
    [f"l0: &l0 [{', '.join(['p' + 'a' * 32] * 10)}]\n"]
    + [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]\n" for i in range(1, 6)]
)
BOMB_CONFIG = (
    "version: 1\nx-bomb: {" + BOMB.replace("\n", ", ").rstrip(", ") + "}\n"
    "targets: {a: {bucket: media-1250000000, region: ap-guangzhou, queue_ids: *l5}}\n"
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 5000 + "]" * 5000, "config: must nest at most 64 levels of mappings and lists"),
        ('{"a": ' * 5000 + "1" + "}" * 5000, "config: must nest at most 64 levels of objects and lists"),
        ("version: 1\nx: " + "[" * 100_000, "config: must nest at most 64 levels of mappings and lists"),
        ("version: 1\nx:\n" + "".join(" " * i + "- \n" for i in range(1, 200)), None),
        (BOMB_CONFIG, None),
        ("version: 1\ntargets: &t {x: *t}\n", "config: alias *t must not refer to a node that contains it"),
        (
            "version: 1\ntargets: &t [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]\n"
            + "".join(
                f"t{i}: &t{i} [[[[[[[[[[[[[[[[*t{i - 1 if i else ''}]]]]]]]]]]]]]]]]\n" for i in range(5)
            ),
            "config: must nest at most 64 levels of mappings and lists",
        ),
    ],
    ids=["yaml-flow", "json", "unclosed", "yaml-block", "billion-laughs", "recursive-alias", "alias-depth"],
)
def test_deep_nesting_and_alias_bombs_are_bad_input(text: str, message: str | None) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_config(text, now=CONFIG_NOW)
    if message is None:
        assert str(caught.value).startswith("config: must ")
    else:
        assert str(caught.value) == message


def test_an_alias_bomb_is_refused_by_its_expanded_size() -> None:
    # A million values once expanded, from 1 KB: refused before anything is built or validated.
    with pytest.raises(InvalidInput) as caught:
        load_config(BOMB_CONFIG, now=CONFIG_NOW)
    assert str(caught.value) == "config: must hold at most 20000 values once YAML aliases are expanded"


def test_yaml_is_read_with_the_safe_loader_only(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    text = f'version: 1\nx: !!python/object/apply:os.system ["touch {marker}"]\n'
    with pytest.raises(InvalidInput) as caught:
        load_config(text, now=CONFIG_NOW)
    assert str(caught.value).startswith("config: is not valid YAML (line 2 column 4: could not determine")
    assert not marker.exists()


def test_ordinary_aliases_and_moderate_nesting_still_load() -> None:
    text = (
        "version: 1\n"
        "targets:\n"
        "  a: &base {bucket: media-1250000000, region: ap-guangzhou, name_pattern: 'img-*'}\n"
        "  b: *base\n"
    )
    config = load_config(text, now=CONFIG_NOW)
    assert config.targets["a"] == config.targets["b"]


def test_a_config_file_over_its_size_limit_is_bad_input() -> None:
    text = "version: 1\n" + "#" * (256 * 1024)
    with pytest.raises(InvalidInput) as caught:
        load_config(text, now=CONFIG_NOW)
    assert str(caught.value) == f"config: must be at most {256 * 1024} bytes (got {len(text)})"


def test_cli_config_check_reports_a_deep_file_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("version: 1\nx: " + "[" * 50_000 + "]" * 50_000 + "\n")
    assert cli_main(["config", "check", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"{path}: config: must nest at most 64 levels of mappings and lists\n"
    assert "Traceback" not in captured.err + captured.out


# --- crons that can never match, or never again ----------------------------------------------

NEVER = "(a day its months never have, such as 30 February or 31 April, or none in its years)"


@pytest.mark.parametrize(
    ("field", "cron"),
    [
        ("start", "0 0 2 31 2 ? *"),  # 31 February
        ("start", "0 0 2 30 2 ? *"),
        ("start", "0 0 2 31 4,6,9,11 ? *"),  # 31 April, June, September, November
        ("start", "0 0 2 29 2 ? 2027"),  # no 29 February in 2027
        ("start", "0 0 2 31W 2 ? *"),
        ("start", "0 0 2 ? 2 5#5 2027"),  # February 2027 has four Fridays
        ("end", "0 0 4 31 4 ? *"),
    ],
)
def test_a_cron_that_can_never_match_is_refused_naming_the_field(field: str, cron: str) -> None:
    data = with_change(f"windows.0.{field}", cron)
    if field == "end":
        del data["windows"][0]["duration"]
    rule = f"can never fire: no date from 1970 through 2099 matches {cron!r} {NEVER}"
    assert error_of(data) == f"windows[0].{field}: {rule}"


def test_a_cron_whose_years_are_past_is_refused_relative_to_now() -> None:
    # CONFIG_NOW is 2026-03-01 00:00 UTC, 08:00 in Shanghai.
    data = with_change("windows.0.start", "0 0 2 1 1 ? 2025")
    assert error_of(data) == (
        "windows[0].start: never fires again: its last time was 2025-01-01 Wed 02:00 CST, "
        "before now (2026-03-01 Sun 08:00 CST)"
    )
    # The same file a year earlier is fine, and so is 29 February in a leap year.
    assert parse_config(data, now=datetime(2024, 6, 1, tzinfo=timezone.utc)).windows[0].start
    assert parse_config(with_change("windows.0.start", "0 0 2 29 2 ? *"), now=CONFIG_NOW)


def test_a_last_occurrence_still_open_at_now_is_kept_until_it_closes() -> None:
    data = with_change("windows.0.start", "0 0 2 1 3 ? 2026")  # 2026-03-01 02:00-04:00 CST
    open_now = datetime(2026, 2, 28, 19, 0, tzinfo=timezone.utc)  # 03:00 CST
    assert parse_config(data, now=open_now).windows[0].start == "0 0 2 1 3 ? 2026"
    closed = datetime(2026, 2, 28, 20, 30, tzinfo=timezone.utc)  # 04:30 CST
    with pytest.raises(InvalidInput, match=r"windows\[0\]\.start: never fires again"):
        parse_config(data, now=closed)


def test_every_cron_that_cannot_fire_is_reported_with_the_other_problems() -> None:
    data = with_change("windows.0.start", "0 0 2 31 2 ? *")
    data["windows"][1] = {"name": "old", "targets": ["b"], "start": "0 0 2 1 1 ? 2020", "duration": "1h"}
    data["windows"].append(
        {"name": "apr", "targets": ["b"], "start": "0 0 2 * * ? *", "end": "0 0 4 31 4 ? *"}
    )
    data["targets"]["a"]["bucket"] = "Bad"
    with pytest.raises(InvalidInput) as caught:
        parse_config(data, now=CONFIG_NOW)
    assert [p.field for p in caught.value.problems] == [
        "targets.a.bucket",
        "windows[0].start",
        "windows[1].start",
        "windows[2].end",
    ]


def test_rate_limit_is_requests_per_second_per_bucket_from_1_to_1000() -> None:
    assert parse_config(BASE, now=CONFIG_NOW).settings.rate_limit == 20  # limits.DEFAULT_BUCKET_RATE
    assert parse_config({**BASE, "settings": {"rate_limit": 2.5}}, now=CONFIG_NOW).settings.rate_limit == 2.5
    for bad in (0, 1001, True, "20"):
        message = error_of({**BASE, "settings": {"rate_limit": bad}})
        assert message.startswith("settings.rate_limit: "), message
