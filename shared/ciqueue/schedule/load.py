"""Loading a schedule file: read YAML or JSON, validate it as a ``Config`` and cross-check it.

``load_config`` reads text or a file and ``parse_config`` judges decoded data; both return a
validated ``Config`` or raise ``InvalidInput`` naming every broken rule at once, each at its exact
spot (``windows[1].periods[0].end: must be HH:MM (got '25:00')``). Rules:

- field rules are the models' (``ciqueue.schedule.config``); rules that span fields (which go
  together, names that must exist or be unique) are checked here. Both are reported together:
  when field rules fail, the rules that span fields still judge every target, window and rotation
  whose own fields are valid (a broken part is judged by its field rules alone, and a broken
  target is still a defined name), so a bad ``timezone`` hides nothing else;
- the text itself is bounded before anything is built: at most ``MAX_CONFIG_BYTES``, nested at
  most ``MAX_NESTING_DEPTH`` levels (JSON measured by ``ciqueue.jsontext``, YAML on its parse
  events, aliases counted at the depth they are used), and at most ``MAX_CONFIG_VALUES`` values
  once YAML aliases are expanded (a "billion laughs" file is refused, not built); an alias inside
  the node it names (a recursive value) is refused too. YAML is read with a safe loader only (no
  Python tags, no object construction);
- a window's cron (``start``, ``end``) that can never match (31 February, 31 April, a 29
  February in years with none) or never again after ``now`` (a year in the past) is refused,
  naming the field and why (``cron.no_fire_rule``); a ``start`` whose last occurrence is still
  open at ``now`` is kept until it closes;
- windows are also judged by their occurrences (``ciqueue.schedule.windows``): a cron window that
  opens again before it closes, or too often to evaluate, is refused. Those checks look at the
  occurrences around ``now``, which callers pass (their clock; tests a fixed time) so that loading
  never reads the wall clock.

This module sits above both ``config`` (the models) and ``windows`` (which reads the models), so
imports go one way: load -> windows -> config.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from ciqueue.ci.kinds import QueueKind, notify_refusals, parse_kind
from ciqueue.constants import CALLBACK_FIELD_ELEMENTS
from ciqueue.errors import InvalidInput, Problem, key_path
from ciqueue.jsontext import JSON_DEPTH_RULE, json_depth
from ciqueue.limits import MAX_CONFIG_BYTES, MAX_CONFIG_VALUES, MAX_NESTING_DEPTH
from ciqueue.schedule.config import (
    NAME_RE,
    Callback,
    Config,
    Rotation,
    Target,
    Window,
    parse_local_datetime,
)
from ciqueue.schedule.cron import no_fire_rule, parse_cron
from ciqueue.schedule.windows import occurrences, self_overlap, too_dense, window_zone
from ciqueue.timefmt import as_utc

# --- loading -----------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """YAML without the 1.1 surprises: ``20:00`` stays a string (not 1200), dates stay strings,
    and only true/false are booleans (``on``/``off``/``no`` stay strings)."""


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:int", "tag:yaml.org,2002:bool")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_config(path_or_text: str | os.PathLike[str], *, now: datetime) -> Config:
    """Load a config from a file path or from YAML/JSON text; InvalidInput on any problem.

    ``now`` (aware) is the instant the windows are judged around (the overlap and density checks
    look at the occurrences near it): callers pass their clock, tests a fixed time."""
    text = _read_source(path_or_text)
    size = len(text.encode("utf-8", "replace"))
    if size > MAX_CONFIG_BYTES:
        raise InvalidInput("config", f"must be at most {MAX_CONFIG_BYTES} bytes (got {size})")
    if text.lstrip().startswith("{"):
        if json_depth(text) > MAX_NESTING_DEPTH:
            raise InvalidInput("config", JSON_DEPTH_RULE)
        try:
            return parse_config(json.loads(text), now=now)
        except json.JSONDecodeError as exc:
            json_error = f"is not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
        # A YAML flow mapping also starts with '{'; report the JSON error if YAML fails too.
        try:
            data = _load_yaml(text)
        except yaml.YAMLError:
            raise InvalidInput("config", json_error) from None
        return parse_config(data, now=now)
    try:
        data = _load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise InvalidInput("config", f"is not valid YAML ({where}{problem})") from None
    return parse_config(data, now=now)


_YAML_DEPTH_RULE = f"must nest at most {MAX_NESTING_DEPTH} levels of mappings and lists"


def _load_yaml(text: str) -> Any:
    """YAML text to data with the safe loader, once its shape is known to be bounded."""
    _check_yaml_shape(text)
    return yaml.load(text, Loader=_Loader)


def _check_yaml_shape(text: str) -> None:
    """Refuse YAML nested too deeply, expanding to too many values, or with a recursive alias.

    Judged on the parser's events (PyYAML's parser keeps an explicit stack, so this pass never
    recurses), before the composer or constructor (which do recurse) see the text. Each anchor
    remembers its expanded size and height, so an alias counts as the node it stands for, where
    it stands. YAML syntax errors surface here as ``yaml.YAMLError``, as they would from loading."""
    # One frame per open mapping or list: [anchor, values counted when it opened, deepest level].
    frames: list[list[Any]] = []
    anchors: dict[str, tuple[int, int]] = {}  # anchor -> (values, levels) of the node it names
    values = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            if len(frames) >= MAX_NESTING_DEPTH:
                raise InvalidInput("config", _YAML_DEPTH_RULE)
            values += 1
            frames.append([event.anchor, values - 1, len(frames) + 1])
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            anchor, opened_at, deepest = frames.pop()
            if anchor is not None:
                anchors[anchor] = (values - opened_at, deepest - len(frames))
            if frames:
                frames[-1][2] = max(frames[-1][2], deepest)
        elif isinstance(event, yaml.ScalarEvent):
            values += 1
            if event.anchor is not None:
                anchors[event.anchor] = (1, 0)
        elif isinstance(event, yaml.AliasEvent):
            if any(frame[0] == event.anchor for frame in frames):
                raise InvalidInput(
                    "config", f"alias *{event.anchor} must not refer to a node that contains it"
                )
            size, levels = anchors.get(event.anchor or "", (1, 0))  # undefined: loading names it
            if len(frames) + levels > MAX_NESTING_DEPTH:
                raise InvalidInput("config", _YAML_DEPTH_RULE)
            values += size
            if frames:
                frames[-1][2] = max(frames[-1][2], len(frames) + levels)
        if values > MAX_CONFIG_VALUES:
            raise InvalidInput(
                "config", f"must hold at most {MAX_CONFIG_VALUES} values once YAML aliases are expanded"
            )


def parse_config(data: Any, *, now: datetime) -> Config:
    """Validate already-decoded data (a mapping) as a Config, judging windows around ``now``."""
    if not isinstance(data, Mapping):
        raise InvalidInput("config", f"must be a mapping with version: 1 (got {_type_name(data)})")
    try:
        config = Config.model_validate(dict(data))
    except ValidationError as exc:
        problems = _problems(exc)
        parts = _valid_parts(data)
        if parts is not None:  # every broken rule at once: the cross-checks of the valid parts too
            problems += _check_references(parts, as_utc(now))
        raise InvalidInput(problems) from None
    # Windows and rotations carry their effective zone so schedule functions need nothing else.
    for window in config.windows:
        window.timezone = window.timezone or config.timezone
    for rotation in config.rotations:
        rotation.timezone = rotation.timezone or config.timezone
    problems = _check_references(
        _Parts(dict(config.targets), list(enumerate(config.windows)), list(enumerate(config.rotations))),
        as_utc(now),
    )
    if problems:
        raise InvalidInput(problems)
    return config


def _read_source(source: str | os.PathLike[str]) -> str:
    if isinstance(source, os.PathLike) or (
        isinstance(source, str) and "\n" not in source and source.strip().endswith((".yaml", ".yml", ".json"))
    ):
        path = Path(source)
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InvalidInput("config", f"file not found: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput("config", f"cannot be read: {path} ({type(exc).__name__})") from None
    if not isinstance(source, str):
        raise InvalidInput("config", f"must be a path or YAML/JSON text (got {_type_name(source)})")
    return source


class _Parts(NamedTuple):
    """What the cross-checks judge: the targets by name (None: its own fields are broken, already
    said), and the windows and rotations whose fields are valid, each with its index in the file.
    A window whose zone is unknown (the config's is broken) has ``timezone`` None: its
    occurrences are not judged."""

    targets: dict[str, Target | None]
    windows: list[tuple[int, Window]]
    rotations: list[tuple[int, Rotation]]


def _valid(model: type[BaseModel], value: Any) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError:
        return None


def _valid_parts(data: Mapping[str, Any]) -> _Parts | None:
    """The parts of a file that failed its field rules which pass their own (None: the targets
    themselves are not a mapping, so no name could be judged as defined or not)."""
    targets = data.get("targets", {})
    if not isinstance(targets, Mapping):
        return None
    # The config's zone as the model judges it (its default when absent); None when it is broken.
    zoned = _valid(Config, {"version": 1, **({"timezone": data["timezone"]} if "timezone" in data else {})})
    default_zone = zoned.timezone if zoned is not None else None

    def listed(name: str, model: type[BaseModel]) -> list[tuple[int, Any]]:
        values = data.get(name, [])
        found = [(i, _valid(model, v)) for i, v in enumerate(values)] if isinstance(values, list) else []
        for _, part in found:
            if part is not None:
                part.timezone = part.timezone or default_zone
        return [(i, part) for i, part in found if part is not None]

    return _Parts(
        {str(name): _valid(Target, value) for name, value in targets.items()},
        listed("windows", Window),
        listed("rotations", Rotation),
    )


def _check_references(parts: _Parts, now: datetime) -> list[Problem]:
    """Rules that span fields: which fields go together, names that must exist or be unique."""
    problems: list[Problem] = []
    add = problems.append
    defined = ", ".join(parts.targets) or "none"
    for group, target in parts.targets.items():
        if not NAME_RE.match(group):
            add(Problem(f"targets.{group}", "target names must be 1-64 letters, digits, '_', '.' or '-'"))
        if target is not None and (target.queue_ids is None) == (target.name_pattern is None):
            add(Problem(f"targets.{group}", "needs exactly one of queue_ids or name_pattern"))

    def check_targets(path: str, names: list[str]) -> None:
        if not names:
            add(Problem(f"{path}.targets", "must name at least one target"))
        for i, name in enumerate(names):
            if name not in parts.targets:
                add(Problem(f"{path}.targets[{i}]", f"unknown target {name!r} (defined: {defined})"))

    seen: dict[str, int] = {}
    for i, window in parts.windows:
        path = f"windows[{i}]"
        if window.name in seen:
            add(
                Problem(
                    f"{path}.name",
                    f"duplicate window name {window.name!r} (also windows[{seen[window.name]}])",
                )
            )
        seen.setdefault(window.name, i)
        check_targets(path, window.targets)
        shape_problems = len(problems)
        _check_window_shape(window, path, add)
        if len(problems) == shape_problems and window.timezone is not None:
            _check_window_fires(window, path, add, now)
        if len(problems) == shape_problems and window.timezone is not None:
            _check_window_overlap(window, path, add, now)

    seen = {}
    rotated: dict[str, str] = {}
    for i, rotation in parts.rotations:
        path = f"rotations[{i}]"
        if rotation.name in seen:
            add(
                Problem(
                    f"{path}.name",
                    f"duplicate rotation name {rotation.name!r} (also rotations[{seen[rotation.name]}])",
                )
            )
        seen.setdefault(rotation.name, i)
        check_targets(path, rotation.targets)
        for j, name in enumerate(rotation.targets):
            if name in rotated and rotated[name] != rotation.name:
                add(
                    Problem(
                        f"{path}.targets[{j}]", f"target {name!r} is already rotated by {rotated[name]!r}"
                    )
                )
            rotated.setdefault(name, rotation.name)
        known = [parts.targets.get(n) for n in rotation.targets]
        kinds = [parse_kind(target.kind) for target in known if target is not None]
        _check_rotation_shape(rotation, path, add, kinds)
    return problems


def _check_window_shape(window: Window, path: str, add: Any) -> None:
    if window.start is not None and window.periods is not None:
        add(Problem(path, "give either start (cron) or periods, not both"))
    if window.start is not None:
        if (window.end is None) == (window.duration is None):
            add(Problem(path, "start needs exactly one of end (cron) or duration"))
    else:
        for name in ("end", "duration"):
            if getattr(window, name) is not None:
                add(Problem(f"{path}.{name}", "is only allowed together with start"))
    if window.start is None and not window.periods and not window.dates:
        add(Problem(path, "needs start (cron), periods or dates"))
    if window.periods is not None and not window.periods:
        add(Problem(f"{path}.periods", "must list at least one period"))
    for j, period in enumerate(window.periods or []):
        if period.start == period.end:
            add(Problem(f"{path}.periods[{j}].end", f"must differ from start (got {period.end!r})"))
    for j, one_off in enumerate(window.dates):
        start, end = parse_local_datetime(one_off.start), parse_local_datetime(one_off.end)
        if start is None or end is None:
            continue
        if (start.tzinfo is None) != (end.tzinfo is None):
            add(Problem(f"{path}.dates[{j}]", "start and end must both have, or both lack, a UTC offset"))
        elif end <= start:
            add(Problem(f"{path}.dates[{j}].end", f"must be after start (got {one_off.end!r})"))


def _check_window_fires(window: Window, path: str, add: Any, now: datetime) -> None:
    """A cron that can never match (31 February, 31 April) or never again (a year before ``now``)
    is a broken rule: ``start`` unless an occurrence it opened is still open at ``now`` (its last
    night); ``end`` always (a window it should close would never close)."""
    tz = window_zone(window)
    if window.start is not None:
        rule = no_fire_rule(parse_cron(window.start), now, tz)
        if rule is not None and not occurrences(window, now, now + timedelta(seconds=1)):
            add(Problem(f"{path}.start", rule))
    if window.end is not None:
        rule = no_fire_rule(parse_cron(window.end), now, tz)
        if rule is not None:
            add(Problem(f"{path}.end", rule))


def _check_window_overlap(window: Window, path: str, add: Any, now: datetime) -> None:
    found = self_overlap(window, now)
    if found:
        add(Problem(f"{path}.{found[0]}", found[1]))
        return  # a window that never closes is also "dense"; one problem says it
    rule = too_dense(window, now)
    if rule:
        add(Problem(f"{path}.start", rule))


def _check_rotation_shape(rotation: Rotation, path: str, add: Any, kinds: list[QueueKind]) -> None:
    if (rotation.every is None) == (rotation.at is None):
        add(Problem(path, "needs exactly one of every or at"))
    if rotation.every is not None and rotation.anchor is None:
        add(Problem(f"{path}.anchor", "is required with every (the local date-time callback 0 starts)"))
    if rotation.anchor is not None and rotation.every is None:
        add(Problem(f"{path}.anchor", "is only allowed together with every"))
    if rotation.at is not None and not rotation.at:
        add(Problem(f"{path}.at", "must list at least one switch time"))
    count = len(rotation.callbacks)
    for j, switch in enumerate(rotation.at or []):
        if switch.callback >= count:
            add(
                Problem(
                    f"{path}.at[{j}].callback",
                    f"must be a callback index 0-{count - 1} (got {switch.callback})",
                )
            )
    for j, callback in enumerate(rotation.callbacks):
        _check_callback(callback, f"{path}.callbacks[{j}]", add)
        _check_callback_kinds(callback, f"{path}.callbacks[{j}]", add, kinds)


def _check_callback_kinds(callback: Callback, path: str, add: Any, kinds: list[QueueKind]) -> None:
    """What the kinds of the rotation's targets do not take (``ci.kinds.notify_refusals``): a doc
    target takes no TDMQ callback and no ``format`` given in the file (the default is dropped)."""
    given = {
        "Type": callback.type,
        "ResultFormat": callback.format if "format" in callback.model_fields_set else None,
        "MqMode": callback.mq_mode,
        "MqRegion": callback.mq_region,
        "MqName": callback.mq_name,
    }
    field_of = {element: name for name, element in CALLBACK_FIELD_ELEMENTS.items()}
    for kind in dict.fromkeys(kinds):
        for element, rule in notify_refusals(kind, given):
            add(Problem(f"{path}.{field_of[element]}", rule))


def _check_callback(callback: Callback, path: str, add: Any) -> None:
    """Type-dependent required fields, then the URL rules of ``ciqueue.ci.netguard``."""
    if callback.type == "Url":
        for name in ("mq_mode", "mq_region", "mq_name"):
            if getattr(callback, name) is not None:
                add(Problem(f"{path}.{name}", "is only allowed with type TDMQ"))
        if not callback.url:
            add(Problem(f"{path}.url", "is required for type Url"))
            return
        try:
            check_callback_url(callback.url, f"{path}.url")
        except InvalidInput as exc:
            for problem in exc.problems:
                add(problem)
    else:
        if callback.url is not None:
            add(Problem(f"{path}.url", "is only allowed with type Url"))
        for name in ("mq_region", "mq_name"):
            if not getattr(callback, name):
                add(Problem(f"{path}.{name}", "is required for type TDMQ"))


def check_callback_url(url: str, field: str) -> None:
    """The single place callback URLs are judged (delegates to ``ciqueue.ci.netguard``)."""
    from ciqueue.ci.netguard import check_callback_url as netguard_check

    netguard_check(url, field)


# --- pydantic errors as field paths --------------------------------------------------------------


def _problems(exc: ValidationError) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        rule = _rule(error)
        if rule.startswith("[") and "] " in rule:  # a list validator naming the item itself
            index, _, rule = rule[1:].partition("] ")
            loc = (*loc, int(index))
        problems.append(Problem(_path(loc) or "config", rule))
    return problems


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out = f"{out}[{part}]" if isinstance(part, int) else key_path(out, part)
    return out


def _rule(error: Any) -> str:
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "value_error":
        return str(ctx.get("error", error["msg"])).removeprefix("Value error, ")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(tuple(error["loc"])[:-1])
        return "unknown key" + (f" (allowed: {', '.join(allowed)})" if allowed else "")
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "")
        one = " or " not in expected and "," not in expected
        return f"must be {'' if one else 'one of '}{expected} (got {value!r})"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be a whole number (got {value!r})"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false (got {value!r})"
    if kind == "string_type":
        return f"must be a string (got {_type_name(value)})"
    if kind == "list_type":
        return f"must be a list (got {_type_name(value)})"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be a mapping (got {_type_name(value)})"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        sign = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[
            kind
        ]
        limit = next(iter(ctx.values()), "")
        return f"must be {sign} {limit} (got {value!r})"
    if kind == "too_short":
        return "must not be empty"
    return str(error["msg"])


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """The field names of the model at ``loc`` (for 'unknown key' messages)."""
    current: Any = Config
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int) or (get_origin(current) is dict and isinstance(part, str)):
            args = get_args(current)
            current = args[-1] if args else None
            continue
        if isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            current = current.model_fields[part].annotation
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> X (the first model or container member)."""
    if get_origin(annotation) in (Union, type(int | None)):
        members = [a for a in get_args(annotation) if a is not type(None)]
        for member in members:
            if get_origin(member) in (list, dict) or (
                isinstance(member, type) and issubclass(member, BaseModel)
            ):
                return member
        return members[0] if members else annotation
    return annotation


def _type_name(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number"}
    if value is None:
        return "null"
    return names.get(type(value), type(value).__name__)
