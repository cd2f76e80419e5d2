"""The deployment descriptor: the real serverless.yml files, and each SCF rule on broken copies."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from ciqueue import constants
from ciqueue.app.commands import parse_command
from ciqueue.deploy.scfyml import Deployment, check_deployment, env_size, load_serverless
from ciqueue.errors import InvalidInput, Problem
from ciqueue.limits import SCF_MAX_ENV_BYTES

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ("automation", "http_toggle", "scheduler", "worker")
LAYER_OUTPUT = "${output:${stage}:${app}:ciqueue-layer.name}"
SESSION_KEY = "k" * 43  # the length of secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def dep() -> Deployment:
    return load_serverless(ROOT / "serverless.yml")


# --- the real descriptor ------------------------------------------------------------------------


def test_real_descriptor_breaks_no_rule(dep: Deployment) -> None:
    assert check_deployment(dep) == []


def test_real_descriptor_layer_and_functions(dep: Deployment) -> None:
    assert dep.app == "ciqueue" and dep.stage == "dev"
    assert dep.layer is not None
    assert dep.layer.name == "ciqueue-dev"
    assert dep.layer.runtimes == ("Python3.10",)
    assert dep.layer.src == ROOT / "dist" / "layer"
    assert [fn.key for fn in dep.functions] == list(FUNCTIONS)
    for fn in dep.functions:
        assert fn.runtime == "Python3.10"
        assert fn.handler == "index.main_handler"
        assert fn.src == ROOT / "dist" / "functions" / fn.key
        assert [layer.name for layer in fn.layers] == [LAYER_OUTPUT]
        assert fn.role == "CiQueueScfRole"
        assert fn.env["TZ"] == "Asia/Shanghai"
        assert fn.env[constants.ENV_CONFIG] == "/var/user/ciqueue.yml"
        assert fn.env[constants.ENV_STATE_BUCKET] == "${env:CIQUEUE_STATE_BUCKET}"
        assert fn.env[constants.ENV_STATE_KEY] == "ciqueue/state.json"
    names = {fn.key: fn.name for fn in dep.functions}
    assert names == {
        "automation": "ciqueue-automation-dev",
        "http_toggle": "ciqueue-http-toggle-dev",
        "scheduler": "ciqueue-scheduler-dev",
        "worker": "ciqueue-worker-dev",
    }
    timeouts = {fn.key: fn.timeout for fn in dep.functions}
    assert timeouts == {"automation": 60, "http_toggle": 30, "scheduler": 300, "worker": 60}
    # The scheduler fans out to the worker by this name.
    assert dep.function("scheduler").env[constants.ENV_WORKER_FUNCTION] == names["worker"]
    # Only the HTTP function holds the token digests.
    assert [fn.key for fn in dep.functions if constants.ENV_API_TOKENS in fn.env] == ["http_toggle"]


def test_scheduler_timers(dep: Deployment) -> None:
    timers = {t.name: t for t in dep.function("scheduler").triggers}
    assert list(timers) == ["reconcile", "edge-pause-0200", "edge-resume-0400"]
    reconcile = timers["reconcile"]
    assert (reconcile.cron, reconcile.enable, reconcile.argument) == ("0 */5 * * * * *", True, "")
    pause, resume = timers["edge-pause-0200"], timers["edge-resume-0400"]
    assert (pause.cron, pause.enable) == ("0 0 2 * * * *", False)
    assert (resume.cron, resume.enable) == ("0 0 4 * * * *", False)
    assert pause.argument is not None and resume.argument is not None
    # The arguments are commands the scheduler accepts (the shared command schema).
    assert parse_command(pause.argument).action == "pause"
    assert parse_command(resume.argument).action == "resume"
    assert parse_command(pause.argument).queues == parse_command(resume.argument).queues


def test_http_toggle_has_function_url_and_no_live_apigw(dep: Deployment) -> None:
    triggers = dep.function("http_toggle").triggers
    assert [t.type for t in triggers] == ["http"]
    assert triggers[0].parameters["authType"] == "NONE"
    assert triggers[0].parameters["netConfig"] == {"enableIntranet": False, "enableExtranet": True}
    text = (ROOT / "functions" / "http_toggle" / "serverless.yml").read_text()
    assert "# - apigw:" in text  # documented, but commented out (APIGW is being retired)


def test_automation_triggers_are_documented_but_not_deployed(dep: Deployment) -> None:
    assert dep.function("automation").triggers == ()
    assert dep.function("worker").triggers == ()
    text = (ROOT / "functions" / "automation" / "serverless.yml").read_text()
    for kind in ("cos", "cmq", "ckafka", "cls"):
        assert f"#   - {kind}:" in text


def test_every_handler_imports_and_is_callable(dep: Deployment) -> None:
    """Import each handler in a fresh interpreter with only the function folder and shared/."""
    for fn in dep.functions:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": f"{fn.source_dir}:{ROOT / 'shared'}",
            "PYTHONDONTWRITEBYTECODE": "1",  # leave the source tree as it was
        }
        code = (
            "import index, inspect, json; "
            "print(json.dumps(list(inspect.signature(index.main_handler).parameters)))"
        )
        result = subprocess.run(
            [sys.executable, "-S", "-c", code],
            cwd=fn.source_dir,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"{fn.key}: {result.stderr}"
        assert len(json.loads(result.stdout)) == 2  # (event, context)


def test_env_fits_in_4kb_even_with_20_api_tokens(dep: Deployment) -> None:
    tokens = [
        {"name": f"deploy-bot-{i:02d}", "sha256": "ab" * 32, "scopes": ["pause", "resume"]} for i in range(20)
    ]
    environ = {
        "CIQUEUE_STATE_BUCKET": "ops-1250000000",
        "CIQUEUE_API_TOKENS": json.dumps(tokens),
        "CIQUEUE_SESSION_KEY": SESSION_KEY,
    }
    resolved = load_serverless(ROOT, environ=environ)
    http = resolved.function("http_toggle")
    assert http.unresolved_env == ()
    assert http.env[constants.ENV_API_TOKENS] == json.dumps(tokens)
    assert http.env[constants.ENV_SESSION_KEY] == SESSION_KEY
    assert http.env[constants.ENV_STATE_BUCKET] == "ops-1250000000"
    for fn in resolved.functions:
        assert env_size(fn.env) <= SCF_MAX_ENV_BYTES, fn.key
    assert check_deployment(resolved) == []


def test_env_size_counts_utf8_bytes_of_keys_and_values() -> None:
    assert env_size({"AB": "cd", "K2": "é"}) == 2 + 2 + 2 + 2
    assert env_size({}) == 0


def test_unset_env_references_are_listed(dep: Deployment) -> None:
    http = dep.function("http_toggle")
    assert sorted(http.unresolved_env) == [
        "CIQUEUE_API_TOKENS",
        "CIQUEUE_SESSION_KEY",
        "CIQUEUE_STATE_BUCKET",
    ]


def test_the_console_session_key_is_a_placeholder_only_http_toggle_takes(dep: Deployment) -> None:
    # A secret: the descriptor names it ${env:...} and the deploying shell fills it.
    assert [fn.key for fn in dep.functions if constants.ENV_SESSION_KEY in fn.env] == ["http_toggle"]
    assert dep.function("http_toggle").env[constants.ENV_SESSION_KEY] == "${env:CIQUEUE_SESSION_KEY}"


@pytest.mark.parametrize("value", [SESSION_KEY, "", "  "])
def test_a_filled_session_key_of_32_or_more_characters_or_none_is_accepted(value: str) -> None:
    resolved = load_serverless(ROOT, environ={"CIQUEUE_SESSION_KEY": value})
    assert resolved.function("http_toggle").env[constants.ENV_SESSION_KEY] == value
    assert check_deployment(resolved) == []


def test_a_filled_session_key_too_short_is_refused_by_the_consoles_rule() -> None:
    short = "s3cret-but-short"
    resolved = load_serverless(ROOT, environ={"CIQUEUE_SESSION_KEY": short})
    problems = check_deployment(resolved)
    assert problems == [
        Problem(
            "functions/http_toggle/serverless.yml.inputs.environment.variables.CIQUEUE_SESSION_KEY",
            "must be at least 32 characters (a random secret)",
        )
    ]
    assert short not in str(problems)  # a secret's text is never shown


# --- each rule, on a broken copy ---------------------------------------------------------------


def _copy_project(tmp_path: Path) -> Path:
    shutil.copyfile(ROOT / "serverless.yml", tmp_path / "serverless.yml")
    for key in FUNCTIONS:
        (tmp_path / "functions" / key).mkdir(parents=True)
        for name in ("serverless.yml", "index.py"):
            shutil.copyfile(ROOT / "functions" / key / name, tmp_path / "functions" / key / name)
    return tmp_path


def _edit(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _problems(root: Path) -> list[Problem]:
    return check_deployment(load_serverless(root))


SCHED = "functions/scheduler/serverless.yml"
TIMER0 = f"{SCHED}.inputs.events[0].timer.parameters"


def _timer(doc: dict[str, Any], index: int = 0) -> dict[str, Any]:
    params: dict[str, Any] = doc["inputs"]["events"][index]["timer"]["parameters"]
    return params


def test_bad_cron_is_reported_with_the_cron_field(tmp_path: Path) -> None:
    root = _copy_project(tmp_path)
    _edit(root / SCHED, lambda d: _timer(d).update(cronExpression="0 61 * * * * *"))
    assert _problems(root) == [
        Problem(f"{TIMER0}.cronExpression", "cron field 2 (minute): 61 is out of range 0-59")
    ]


def test_five_field_cron_is_refused(tmp_path: Path) -> None:
    root = _copy_project(tmp_path)
    _edit(root / SCHED, lambda d: _timer(d, 1).update(cronExpression="*/5 * * * *"))
    [problem] = _problems(root)
    assert problem.field == f"{SCHED}.inputs.events[1].timer.parameters.cronExpression"
    assert problem.rule.startswith("must have 7 fields (second minute hour day month week year), got 5")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["inputs"].update(name="9lives"),
            Problem(
                f"{SCHED}.inputs.name",
                "'9lives' must be 2-60 characters of letters, digits, '_' and '-', start with a letter and "
                "end with a letter or digit",
            ),
        ),
        (
            lambda d: d["inputs"].update(name="a" * 61),
            Problem(
                f"{SCHED}.inputs.name",
                f"'{'a' * 61}' must be 2-60 characters of letters, digits, '_' and '-', start with a letter "
                "and end with a letter or digit",
            ),
        ),
        (
            lambda d: d["inputs"].update(runtime="Python3.9"),
            Problem(f"{SCHED}.inputs.runtime", "must be Python3.10 (got 'Python3.9')"),
        ),
        (
            lambda d: d["inputs"].update(timeout=901),
            Problem(f"{SCHED}.inputs.timeout", "must be 1-900 seconds"),
        ),
        (
            lambda d: d["inputs"].update(memorySize=200),
            Problem(f"{SCHED}.inputs.memorySize", "must be 64, or 128-3072 in steps of 128 (MB)"),
        ),
        (
            lambda d: d["inputs"].update(handler="main.main_handler"),
            Problem(f"{SCHED}.inputs.handler", "file main.py does not exist in scheduler/"),
        ),
        (
            lambda d: d["inputs"].update(handler="index.handler"),
            Problem(f"{SCHED}.inputs.handler", "index.py defines no top-level handler"),
        ),
        (
            lambda d: d["inputs"]["environment"]["variables"].update(SCF_DEBUG="1"),
            Problem(
                f"{SCHED}.inputs.environment.variables.SCF_DEBUG",
                "prefixes SCF_, QCLOUD_, TENCENTCLOUD_ are reserved by SCF",
            ),
        ),
        (
            lambda d: d["inputs"]["environment"]["variables"].update({"bad-key": "1"}),
            Problem(
                f"{SCHED}.inputs.environment.variables.bad-key",
                "key must be 2-64 characters of letters, digits and '_', starting with a letter",
            ),
        ),
        (
            lambda d: _timer(d).update(name="1st-timer"),
            Problem(
                f"{TIMER0}.name",
                "'1st-timer' must be 1-60 characters of letters, digits, '_' and '-' and start with a letter",
            ),
        ),
        (
            lambda d: _timer(d).pop("enable"),
            Problem(f"{TIMER0}.enable", "must be set to true or false (SCF's defaults disagree)"),
        ),
        (
            lambda d: _timer(d).pop("argument"),
            Problem(f"{TIMER0}.argument", "must be set ('' for none) so event.Message is explicit"),
        ),
        (
            lambda d: _timer(d).update(argument="x" * 4097),
            Problem(f"{TIMER0}.argument", "must be at most 4096 bytes (got 4097)"),
        ),
        (
            lambda d: _timer(d).update(argument='{"action": "explode"}'),
            Problem(
                f"{TIMER0}.argument.action",
                "must be one of pause, resume, set_callback, cancel_override, reconcile (got 'explode')",
            ),
        ),
        (
            lambda d: d.update(stage="prod"),
            Problem(f"{SCHED}.stage", "must equal the root serverless.yml's stage 'dev'"),
        ),
        (
            lambda d: d["inputs"].update(region="ap-shanghai"),
            Problem(f"{SCHED}.inputs.region", "must equal the root serverless.yml's region 'ap-guangzhou'"),
        ),
        (
            lambda d: d["inputs"].pop("layers"),
            Problem(f"{SCHED}.inputs.layers", "must include the ciqueue layer"),
        ),
    ],
)
def test_each_rule_names_field_and_rule(
    tmp_path: Path, change: Callable[[dict[str, Any]], Any], expected: Problem
) -> None:
    root = _copy_project(tmp_path)
    _edit(root / SCHED, change)
    assert _problems(root) == [expected]


def test_env_over_4kb_is_reported(tmp_path: Path) -> None:
    root = _copy_project(tmp_path)
    _edit(root / SCHED, lambda d: d["inputs"]["environment"]["variables"].update(BIG="x" * 4000))
    fn = load_serverless(root).function("scheduler")
    size = env_size(fn.env)
    assert size > 4096
    assert _problems(root) == [
        Problem(
            f"{SCHED}.inputs.environment.variables",
            f"{size} bytes (keys + values, UTF-8) exceed SCF's 4096-byte limit",
        )
    ]


def test_more_than_ten_timers_is_reported(tmp_path: Path) -> None:
    root = _copy_project(tmp_path)

    def add_timers(doc: dict[str, Any]) -> None:
        for i in range(8):
            params = {
                "name": f"extra-{i}",
                "cronExpression": "0 0 3 * * * *",
                "enable": False,
                "argument": "",
            }
            doc["inputs"]["events"].append({"timer": {"parameters": params}})

    _edit(root / SCHED, add_timers)
    assert _problems(root) == [Problem(f"{SCHED}.inputs.events", "11 timer triggers; SCF allows 10 per type")]


def test_async_handler_and_one_argument_handler_are_refused(tmp_path: Path) -> None:
    root = _copy_project(tmp_path)
    index = root / "functions" / "worker" / "index.py"
    index.write_text("async def main_handler(event, context):\n    return {}\n")
    where = "functions/worker/serverless.yml.inputs.handler"
    assert _problems(root) == [Problem(where, "main_handler must be a plain function, not async")]
    index.write_text("def main_handler(event):\n    return {}\n")
    assert _problems(root) == [Problem(where, "main_handler must accept (event, context)")]


def test_unreadable_yaml_raises_invalid_input(tmp_path: Path) -> None:
    root = _copy_project(tmp_path)
    (root / SCHED).write_text("app: ciqueue\ninputs: [unclosed\n")
    with pytest.raises(InvalidInput) as info:
        load_serverless(root)
    assert info.value.problems == [Problem(SCHED, "is not valid YAML at line 3")]


def test_root_must_be_the_layer(tmp_path: Path) -> None:
    root = _copy_project(tmp_path)
    _edit(root / "serverless.yml", lambda d: d.update(component="scf"))
    assert _problems(root) == [
        Problem("serverless.yml.component", "must be 'layer' (the root file holds the layer)")
    ]
