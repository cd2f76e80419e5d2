"""The deployment descriptor: load the serverless.yml files and check them against SCF's rules.

Layout (serverless-cloud-framework allows one component instance per file): the root
``serverless.yml`` is the layer instance and ``functions/<key>/serverless.yml`` are the function
instances. ``load_serverless`` reads them all into a ``Deployment``; ``check_deployment`` returns
every broken rule as a ``Problem`` (field path + rule), so nothing is deployed half-checked.

Secrets (``CIQUEUE_SESSION_KEY``) are ``${env:...}`` placeholders in the descriptor, filled from the
deploying shell; a filled value is judged by the rule of the code that reads it (the console's
``SessionKey``), and its text never appears in a problem.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ciqueue import constants
from ciqueue.errors import InvalidInput, Problem
from ciqueue.limits import (
    MAX_TIMER_MESSAGE_BYTES,
    SCF_MAX_ENV_BYTES,
    SCF_MAX_LAYERS,
    SCF_MAX_TIMEOUT_S,
    SCF_MAX_TRIGGERS_PER_TYPE,
    SCF_MIN_TIMEOUT_S,
)
from ciqueue.records import dataclass, field
from ciqueue.schedule.cron import cron_rule

# SCF's rules (reference scf.md §1, §3, §4; CreateFunction API).
FUNCTION_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,58}[A-Za-z0-9]")
FUNCTION_NAME_RULE = (
    "must be 2-60 characters of letters, digits, '_' and '-', start with a letter and end with a "
    "letter or digit"
)
TRIGGER_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,59}")
TRIGGER_NAME_RULE = "must be 1-60 characters of letters, digits, '_' and '-' and start with a letter"
ENV_KEY_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{1,63}")
RESERVED_ENV_PREFIXES = ("SCF_", "QCLOUD_", "TENCENTCLOUD_")
HANDLER_PART_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{1,59}")

_VAR_RE = re.compile(r"\$\{(name|stage|app)\}")
_ENV_VAR_RE = re.compile(r"\$\{env:([A-Za-z0-9_.-]+)\}")


@dataclass(frozen=True)
class Trigger:
    """One trigger of a function as written in its ``events`` list."""

    type: str  # timer, http, apigw, cos, cmq, ckafka, cls, ...
    name: str | None
    enable: bool | None  # None: not set (SCF's defaults disagree, so we require it)
    cron: str | None = None  # timers only
    argument: str | None = None  # timers only; arrives as event["Message"]
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LayerRef:
    name: str
    version: str


@dataclass(frozen=True)
class FunctionSpec:
    """One function instance (``functions/<key>/serverless.yml``)."""

    key: str  # the folder name under functions/, e.g. "http_toggle"
    instance: str  # the component instance name
    name: str  # the SCF function name, ${name}/${stage}/${app} substituted
    handler: str
    source_dir: Path  # functions/<key>/: where the handler's source lives
    src: Path | None  # inputs.src resolved: what `scf deploy` uploads (the packaged folder)
    runtime: str | None
    env: Mapping[str, str]
    timeout: int | None
    memory: int | None
    triggers: tuple[Trigger, ...]
    layers: tuple[LayerRef, ...]
    role: str | None
    yml_path: Path
    unresolved_env: tuple[str, ...] = ()  # ${env:X} references the loader could not fill

    @property
    def handler_file(self) -> Path:
        module = self.handler.rpartition(".")[0]
        return self.source_dir / (module.replace(".", "/") + ".py")

    @property
    def handler_function(self) -> str:
        return self.handler.rpartition(".")[2]


@dataclass(frozen=True)
class LayerSpec:
    instance: str
    name: str
    src: Path | None
    runtimes: tuple[str, ...]
    yml_path: Path


@dataclass(frozen=True)
class Instance:
    """The org-level identity every instance of one app must share."""

    path: Path
    app: str | None
    stage: str | None
    region: str | None


@dataclass(frozen=True)
class Deployment:
    root: Path
    app: str
    stage: str
    layer: LayerSpec | None
    functions: tuple[FunctionSpec, ...]
    instances: tuple[Instance, ...]

    def function(self, key: str) -> FunctionSpec:
        for fn in self.functions:
            if fn.key == key:
                return fn
        raise KeyError(key)


def load_serverless(path: str | Path, environ: Mapping[str, str] | None = None) -> Deployment:
    """Read the root serverless.yml (a file or its folder) and every functions/*/serverless.yml.

    ``${name}``, ``${stage}`` and ``${app}`` are substituted as the deployment engine does.
    ``${env:X}`` is filled from ``environ`` when given (the deploying shell); otherwise, or when X is
    unset, the reference stays as written and is listed in ``FunctionSpec.unresolved_env``.
    ``${output:...}`` (the layer's name/version) is kept as written. Raises InvalidInput for a
    file that is missing, not YAML, or not a component instance.
    """
    root_file = Path(path)
    if root_file.is_dir():
        root_file = root_file / "serverless.yml"
    root_file = root_file.resolve()
    root = root_file.parent
    doc = _read_yaml(root_file, "serverless.yml")
    instances = [_instance(root_file, doc)]
    layer = _layer(root_file, doc) if doc.get("component") == "layer" else None

    functions = []
    for yml in sorted((root / "functions").glob("*/serverless.yml")):
        fdoc = _read_yaml(yml, _rel(yml, root))
        instances.append(_instance(yml, fdoc))
        functions.append(_function(yml, fdoc, environ))
    return Deployment(
        root=root,
        app=str(doc.get("app") or doc.get("name") or ""),
        stage=str(doc.get("stage") or "dev"),
        layer=layer,
        functions=tuple(functions),
        instances=tuple(instances),
    )


def check_deployment(dep: Deployment) -> list[Problem]:
    """Every broken SCF rule in the deployment, each naming the field path and the rule."""
    problems: list[Problem] = []
    problems += _check_instances(dep)
    if dep.layer is None:
        problems.append(
            Problem("serverless.yml.component", "must be 'layer' (the root file holds the layer)")
        )
    elif constants.SCF_RUNTIME not in dep.layer.runtimes:
        problems.append(
            Problem(
                f"{_rel(dep.layer.yml_path, dep.root)}.inputs.runtimes", f"must list {constants.SCF_RUNTIME}"
            )
        )
    if not dep.functions:
        problems.append(Problem("functions", "no functions/<name>/serverless.yml found"))
    seen_names: dict[str, str] = {}
    for fn in dep.functions:
        problems += check_function(fn, dep.root)
        if fn.name in seen_names:
            where = _rel(fn.yml_path, dep.root)
            problems.append(Problem(f"{where}.inputs.name", f"duplicates the function {seen_names[fn.name]}"))
        seen_names[fn.name] = fn.key
    return problems


def require_valid(dep: Deployment) -> None:
    """Raise InvalidInput with every problem, if there is any."""
    problems = check_deployment(dep)
    if problems:
        raise InvalidInput(problems)


def check_function(fn: FunctionSpec, root: Path) -> list[Problem]:
    """The rules for one function instance."""
    where = _rel(fn.yml_path, root) + ".inputs"
    problems: list[Problem] = []
    if not FUNCTION_NAME_RE.fullmatch(fn.name):
        problems.append(Problem(f"{where}.name", f"{fn.name!r} {FUNCTION_NAME_RULE}"))
    if fn.runtime != constants.SCF_RUNTIME:
        problems.append(Problem(f"{where}.runtime", f"must be {constants.SCF_RUNTIME} (got {fn.runtime!r})"))
    problems += _check_handler(fn, where)
    if fn.timeout is None or not SCF_MIN_TIMEOUT_S <= fn.timeout <= SCF_MAX_TIMEOUT_S:
        problems.append(
            Problem(f"{where}.timeout", f"must be {SCF_MIN_TIMEOUT_S}-{SCF_MAX_TIMEOUT_S} seconds")
        )
    if fn.memory is None or not (fn.memory == 64 or (128 <= fn.memory <= 3072 and fn.memory % 128 == 0)):
        problems.append(Problem(f"{where}.memorySize", "must be 64, or 128-3072 in steps of 128 (MB)"))
    if fn.src is None:
        problems.append(Problem(f"{where}.src", "must be set (the folder `ciqueue package` builds)"))
    if len(fn.layers) > SCF_MAX_LAYERS:
        problems.append(Problem(f"{where}.layers", f"at most {SCF_MAX_LAYERS} layers per function"))
    if not fn.layers:
        problems.append(Problem(f"{where}.layers", "must include the ciqueue layer"))
    problems += _check_env(fn.env, f"{where}.environment.variables")
    problems += _check_triggers(fn.triggers, f"{where}.events")
    return problems


def env_size(env: Mapping[str, str]) -> int:
    """Bytes counted against SCF's 4 KB limit: UTF-8 length of every key plus its value."""
    return sum(len(k.encode()) + len(v.encode()) for k, v in env.items())


def check_cron(expr: str) -> list[str]:
    """Broken rules of an SCF 7-field cron expression (Second Minute Hour Day Month Week Year)."""
    rule = cron_rule(expr)
    return [] if rule is None else [rule]


# ---------------------------------------------------------------------------------------------
# Loading


def _read_yaml(path: Path, label: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        raise InvalidInput(label, f"cannot read {path}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise InvalidInput(label, f"is not valid YAML{at}") from None
    if not isinstance(doc, dict) or not doc.get("component") or not doc.get("name"):
        raise InvalidInput(label, "must be a component instance with `component` and `name`")
    return doc


def _instance(path: Path, doc: Mapping[str, Any]) -> Instance:
    inputs = doc.get("inputs") or {}
    region = inputs.get("region") if isinstance(inputs, dict) else None
    return Instance(
        path=path,
        app=_opt_str(doc.get("app")),
        stage=_opt_str(doc.get("stage")) or "dev",
        region=_opt_str(region),
    )


def _layer(path: Path, doc: Mapping[str, Any]) -> LayerSpec:
    inputs = _mapping(doc.get("inputs"))
    variables = _variables(doc)
    runtimes = inputs.get("runtimes") or []
    return LayerSpec(
        instance=str(doc["name"]),
        name=_substitute(str(inputs.get("name") or doc["name"]), variables),
        src=_src_path(inputs.get("src"), path.parent),
        runtimes=tuple(str(r) for r in runtimes) if isinstance(runtimes, list) else (),
        yml_path=path,
    )


def _function(path: Path, doc: Mapping[str, Any], environ: Mapping[str, str] | None) -> FunctionSpec:
    inputs = _mapping(doc.get("inputs"))
    variables = _variables(doc)
    env_block = _mapping(_mapping(inputs.get("environment")).get("variables"))
    env: dict[str, str] = {}
    unresolved: list[str] = []
    for key, value in env_block.items():
        text = _substitute("" if value is None else str(value), variables)
        text, missing = _fill_env(text, environ)
        unresolved += missing
        env[str(key)] = text
    layers = tuple(
        LayerRef(str(item.get("name", "")), str(item.get("version", "")))
        for item in inputs.get("layers") or []
        if isinstance(item, dict)
    )
    return FunctionSpec(
        key=path.parent.name,
        instance=str(doc["name"]),
        name=_substitute(str(inputs.get("name") or "${name}-${stage}-${app}"), variables),
        handler=str(inputs.get("handler") or ""),
        source_dir=path.parent.resolve(),
        src=_src_path(inputs.get("src"), path.parent),
        runtime=_opt_str(inputs.get("runtime")),
        env=env,
        timeout=_opt_int(inputs.get("timeout")),
        memory=_opt_int(inputs.get("memorySize")),
        triggers=tuple(_triggers(inputs.get("events"), variables)),
        layers=layers,
        role=_opt_str(inputs.get("role")),
        yml_path=path,
        unresolved_env=tuple(unresolved),
    )


def _triggers(events: Any, variables: Mapping[str, str]) -> list[Trigger]:
    found: list[Trigger] = []
    for event in events or []:
        if not isinstance(event, dict) or len(event) != 1:
            found.append(Trigger(type="?", name=None, enable=None))
            continue
        ((kind, body),) = event.items()
        body = _mapping(body)
        params = _mapping(body.get("parameters"))
        name = params.get("name", body.get("name"))
        if name is None and kind == "timer":
            name = "timer-${name}-${stage}"  # the component's default
        enable = params.get("enable")
        argument = params.get("argument")
        found.append(
            Trigger(
                type=str(kind),
                name=_substitute(str(name), variables) if name is not None else None,
                enable=enable if isinstance(enable, bool) else None,
                cron=_opt_str(params.get("cronExpression")),
                argument=None if argument is None else str(argument),
                parameters=params,
            )
        )
    return found


def _variables(doc: Mapping[str, Any]) -> dict[str, str]:
    return {
        "name": str(doc.get("name") or ""),
        "stage": str(doc.get("stage") or "dev"),
        "app": str(doc.get("app") or doc.get("name") or ""),
    }


def _substitute(text: str, variables: Mapping[str, str]) -> str:
    return _VAR_RE.sub(lambda m: variables[m.group(1)], text)


def _fill_env(text: str, environ: Mapping[str, str] | None) -> tuple[str, list[str]]:
    missing: list[str] = []

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if environ is not None and name in environ:
            return environ[name]
        missing.append(name)
        return match.group(0)

    return _ENV_VAR_RE.sub(fill, text), missing


def _src_path(src: Any, base: Path) -> Path | None:
    if isinstance(src, dict):
        src = src.get("src")
    if not src:
        return None
    return (base / str(src)).resolve()


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


# ---------------------------------------------------------------------------------------------
# Checks


def _check_instances(dep: Deployment) -> list[Problem]:
    """The CLI deploys a folder of instances only if they share app and stage; the functions
    find their layer only in the same region."""
    problems: list[Problem] = []
    first = dep.instances[0]
    for inst in dep.instances[1:]:
        where = _rel(inst.path, dep.root)
        for attr in ("app", "stage", "region"):
            if getattr(inst, attr) != getattr(first, attr):
                problems.append(
                    Problem(
                        f"{where}.{'inputs.' if attr == 'region' else ''}{attr}",
                        f"must equal the root serverless.yml's {attr} {getattr(first, attr)!r}",
                    )
                )
    return problems


def _check_handler(fn: FunctionSpec, where: str) -> list[Problem]:
    module, _, func = fn.handler.rpartition(".")
    if not module or not HANDLER_PART_RE.fullmatch(module) or not HANDLER_PART_RE.fullmatch(func):
        return [Problem(f"{where}.handler", f"{fn.handler!r} must be file.function, 2-60 characters each")]
    path = fn.handler_file
    if not path.is_file():
        return [Problem(f"{where}.handler", f"file {path.name} does not exist in {fn.source_dir.name}/")]
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        return [Problem(f"{where}.handler", f"{path.name} does not parse: line {exc.lineno}: {exc.msg}")]
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == func:
            args = node.args
            positional = len(args.posonlyargs) + len(args.args)
            if positional < 2 and args.vararg is None:
                return [Problem(f"{where}.handler", f"{func} must accept (event, context)")]
            return []
        if isinstance(node, ast.AsyncFunctionDef) and node.name == func:
            return [Problem(f"{where}.handler", f"{func} must be a plain function, not async")]
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == func for t in targets):
                return []
        if isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == func for a in node.names):
            return []
    return [Problem(f"{where}.handler", f"{path.name} defines no top-level {func}")]


def _check_env(env: Mapping[str, str], where: str) -> list[Problem]:
    problems: list[Problem] = []
    for key in env:
        if not ENV_KEY_RE.fullmatch(key):
            problems.append(
                Problem(
                    f"{where}.{key}",
                    "key must be 2-64 characters of letters, digits and '_', starting with a letter",
                )
            )
        if key.startswith(RESERVED_ENV_PREFIXES):
            problems.append(
                Problem(f"{where}.{key}", f"prefixes {', '.join(RESERVED_ENV_PREFIXES)} are reserved by SCF")
            )
    problems += _check_session_key(env, where)
    size = env_size(env)
    if size > SCF_MAX_ENV_BYTES:
        problems.append(
            Problem(
                where,
                f"{size} bytes (keys + values, UTF-8) exceed SCF's {SCF_MAX_ENV_BYTES}-byte limit",
            )
        )
    return problems


def _check_session_key(env: Mapping[str, str], where: str) -> list[Problem]:
    """The console's session key, once the deploying shell filled it, by the console's own rule
    (``SessionKey.from_env``): empty (the console stays off) or long enough. A ``${env:...}``
    placeholder is the descriptor's way to name a secret and passes; the key's text is never shown."""
    value = env.get(constants.ENV_SESSION_KEY)
    if value is None or _ENV_VAR_RE.fullmatch(value.strip()):
        return []
    from ciqueue.api.ui.session import SessionKey

    try:
        SessionKey.from_env({constants.ENV_SESSION_KEY: value})
    except InvalidInput as exc:
        return [Problem(f"{where}.{p.field}", p.rule) for p in exc.problems]
    return []


def _check_triggers(triggers: tuple[Trigger, ...], where: str) -> list[Problem]:
    problems: list[Problem] = []
    per_type: dict[str, int] = {}
    names: set[tuple[str, str]] = set()
    for index, trig in enumerate(triggers):
        at = f"{where}[{index}].{trig.type}"
        if trig.type == "?":
            problems.append(Problem(f"{where}[{index}]", "must be a mapping of one trigger type"))
            continue
        per_type[trig.type] = per_type.get(trig.type, 0) + 1
        if trig.name is not None:
            if trig.type in ("timer", "http") and not TRIGGER_NAME_RE.fullmatch(trig.name):
                problems.append(Problem(f"{at}.parameters.name", f"{trig.name!r} {TRIGGER_NAME_RULE}"))
            if (trig.type, trig.name) in names:
                problems.append(Problem(f"{at}.parameters.name", f"{trig.name!r} is used twice"))
            names.add((trig.type, trig.name))
        if trig.type == "http":
            continue  # a Function URL has no enable switch
        if trig.enable is None:
            problems.append(
                Problem(f"{at}.parameters.enable", "must be set to true or false (SCF's defaults disagree)")
            )
        if trig.type == "timer":
            problems += _check_timer(trig, at)
    for kind, count in per_type.items():
        if count > SCF_MAX_TRIGGERS_PER_TYPE:
            problems.append(
                Problem(where, f"{count} {kind} triggers; SCF allows {SCF_MAX_TRIGGERS_PER_TYPE} per type")
            )
    return problems


def _check_timer(trig: Trigger, at: str) -> list[Problem]:
    problems: list[Problem] = []
    if trig.cron is None:
        problems.append(Problem(f"{at}.parameters.cronExpression", "is required for a timer"))
    else:
        problems += [Problem(f"{at}.parameters.cronExpression", rule) for rule in check_cron(trig.cron)]
    argument = trig.argument
    if argument is None:
        problems.append(
            Problem(f"{at}.parameters.argument", "must be set ('' for none) so event.Message is explicit")
        )
    elif (size := len(argument.encode())) > MAX_TIMER_MESSAGE_BYTES:
        rule = f"must be at most {MAX_TIMER_MESSAGE_BYTES} bytes (got {size})"
        problems.append(Problem(f"{at}.parameters.argument", rule))
    elif argument.strip():
        problems += _check_command(argument, f"{at}.parameters.argument")
    return problems


def _check_command(argument: str, where: str) -> list[Problem]:
    """A non-empty timer argument is a command (ciqueue.app.commands), judged as the scheduler will."""
    try:
        from ciqueue.app.commands import parse_command
    except ImportError:  # the command schema is optional for loading a descriptor
        try:
            json.loads(argument)
        except ValueError as exc:
            return [Problem(where, f"must be a JSON command: {exc}")]
        return []
    try:
        parse_command(argument, field_prefix=where)
    except InvalidInput as exc:
        return list(exc.problems)
    return []
