"""The ``ciqueue`` command: list, show, pause, resume and set the callback of CI queues, and list
the buckets each kind is activated for (``buckets list``: the buckets a schedule can target).
Pause and resume take an override (``--for``/``--until``, through the executor, as the HTTP API's
body), and ``overrides list|cancel`` read and cancel the overrides in the functions' state store:
the rules are at the overrides section below.

Heavy modules (requests, pydantic, the client) are imported inside the commands so that
``ciqueue --help`` stays fast. Exit codes: 0 success (including "already so, nothing
written"), 1 the service or the network failed, 2 bad input; errors are one stderr line.

Every change made from the command line names its actor ``cli:<login name>`` (``cli_actor``, one
helper for every door: a plain pause, resume or set-callback, ``reconcile``, the overrides) in its
result, its audit lines and the state's history.

Every command that calls CI runs under one deadline: ``--timeout SECONDS`` (default
``limits.DEFAULT_CLI_TIMEOUT_S``, 30 s), counted from the start of the command; when it runs out
the command ends with DeadlineExceeded (exit 1). A timeout that is not a positive number is bad
input (exit 2).

Output into a pipe whose reader has gone (``ciqueue plan ... | head -1``) ends the command
quietly with exit 141 (128 + SIGPIPE, what a shell reports for ``yes | head -1``, so
``set -o pipefail`` scripts see the same status as for any other tool): no traceback, and stdout is
pointed at devnull so the interpreter's last flush at exit cannot print one either.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from ciqueue import __version__
from ciqueue.ci.kinds import KIND_NAMES, QueueKind, parse_kind
from ciqueue.constants import (
    DEFAULT_NOTIFY_EVENT,
    ENV_API_TOKENS,
    ENV_CONFIG,
    ENV_ENDPOINT,
    ENV_REGION,
    MQ_MODES,
    NOTIFY_EVENTS,
    QUEUE_STATES,
    RESULT_FORMATS,
)
from ciqueue.errors import CiQueueError, InvalidInput, Problem
from ciqueue.limits import DEFAULT_CLI_TIMEOUT_S, MAX_PLAN_DAYS_CLI

if TYPE_CHECKING:
    from ciqueue.app.commands import Command
    from ciqueue.app.executor import CommandOutcome
    from ciqueue.app.runtime import Runtime
    from ciqueue.ci.client import CIClient
    from ciqueue.ci.models import NotifyConfig
    from ciqueue.ci.operations import OperationResult
    from ciqueue.ci.retry import Deadline
    from ciqueue.schedule.config import Config

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE (13)


class UsageError(Exception):
    """argparse found the command line malformed."""


class _Parser(argparse.ArgumentParser):
    # One line on stderr and exit 2 through main(), instead of argparse's usage dump.
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _seconds(text: str) -> float:
    """``--timeout``: a positive, finite number of seconds (argparse names the option)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds (got {text!r})")
    return value


def _add_timeout(parser: argparse.ArgumentParser, default: Any = argparse.SUPPRESS) -> None:
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=default,
        metavar="SECONDS",
        help=f"end the command's calls to CI after this long (default {DEFAULT_CLI_TIMEOUT_S:g})",
    )


def deadline_for(args: argparse.Namespace) -> Deadline:
    """The command's deadline: ``--timeout`` seconds (or the default) from now."""
    from ciqueue.ci.retry import Deadline

    return Deadline.after(getattr(args, "timeout", None) or DEFAULT_CLI_TIMEOUT_S)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ciqueue",
        description="Operate Tencent Cloud Infinite (CI) processing queues safely.",
    )
    parser.add_argument(
        "--endpoint",
        help=f"connect to this URL instead of the CI host, e.g. an emulator (env {ENV_ENDPOINT})",
    )
    _add_timeout(parser, default=None)
    parser.add_argument("--version", action="version", version=f"ciqueue {__version__}")
    commands = parser.add_subparsers(dest="command")

    queues = commands.add_parser("queues", help="list, show, pause, resume, set-callback")
    actions = queues.add_subparsers(dest="action", metavar="{list,show,pause,resume,set-callback}")

    common = _Parser(add_help=False)
    common.add_argument("--bucket", required=True, help="bucket as <name>-<appid>")
    common.add_argument("--region", help=f"e.g. ap-guangzhou (default: env {ENV_REGION})")
    common.add_argument("--kind", default="pic", help=f"queue kind: {', '.join(KIND_NAMES)} (default pic)")
    common.add_argument("--json", action="store_true", help="print JSON for scripts")
    # SUPPRESS keeps the global --endpoint when the subcommand does not repeat it.
    common.add_argument("--endpoint", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    _add_timeout(common)

    listing = actions.add_parser("list", parents=[common], help="list the bucket's queues of a kind")
    listing.add_argument("--state", help="only queues in this state: Active or Paused")

    show = actions.add_parser("show", parents=[common], help="show one queue")
    show.add_argument("queue_id")

    for name, text in (
        ("pause", "pause a queue (State Paused)"),
        ("resume", "resume a queue (State Active)"),
    ):
        change = actions.add_parser(name, parents=[common], help=text)
        change.add_argument("queue_id")
        change.add_argument("--dry-run", action="store_true", help="show the change, write nothing")
        add_override_options(change)

    callback = actions.add_parser(
        "set-callback",
        parents=[common],
        help="set the queue's callback (NotifyConfig); State is untouched",
        description="Exactly one of --url, --tdmq-mode or --off.",
    )
    callback.add_argument("queue_id")
    target = callback.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="callback URL (public http/https)")
    target.add_argument("--tdmq-mode", help=f"TDMQ delivery: {' or '.join(MQ_MODES)}")
    target.add_argument(
        "--off", action="store_true", help="turn the callback off, keeping its settings for later"
    )
    callback.add_argument(
        "--format",
        help=f"with --url: result format {' or '.join(RESULT_FORMATS)} (default JSON; doc queues take none)",
    )
    callback.add_argument(
        "--event", help=f"comma list of {', '.join(NOTIFY_EVENTS)} (default {DEFAULT_NOTIFY_EVENT})"
    )
    callback.add_argument("--tdmq-region", help="with --tdmq-mode: sh, bj, gz, cd or hk")
    callback.add_argument("--tdmq-name", help="with --tdmq-mode: topic or queue name")
    callback.add_argument("--dry-run", action="store_true", help="show the change, write nothing")

    buckets = commands.add_parser("buckets", help="list the buckets each kind is activated for")
    bucket_actions = buckets.add_subparsers(dest="action", metavar="{list}")
    bucket_list = bucket_actions.add_parser(
        "list",
        help="the buckets a kind's service is activated for in a region (those a schedule can target)",
    )
    bucket_list.add_argument("--kind", help=f"only this kind: {', '.join(KIND_NAMES)} (default: every kind)")
    bucket_list.add_argument("--region", help=f"e.g. ap-guangzhou (default: env {ENV_REGION})")
    bucket_list.add_argument("--json", action="store_true", help="print JSON for scripts")
    bucket_list.add_argument("--endpoint", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    _add_timeout(bucket_list)

    commands.add_parser(
        "emulator", help="run the local CI emulator (see: ciqueue emulator --help)", add_help=False
    )
    # -- invoke, local, demo (ciqueue.dev.invoke, ciqueue.dev.stack, ciqueue.dev.rehearsal) --
    demo = commands.add_parser("demo", help="rehearse a maintenance night locally (--cli: the CLI tour)")
    demo.add_argument("--cli", action="store_true", help="the guided tour of the queues commands instead")
    commands.add_parser("invoke", help="run a function in-process (ciqueue invoke --help)", add_help=False)
    commands.add_parser("local", help="the whole system locally (ciqueue local --help)", add_help=False)
    # -- end invoke, local, demo --
    add_schedule_commands(commands)
    add_status_command(commands)
    add_token_commands(commands)
    add_override_commands(commands)
    from ciqueue.cli.completion import add_completion_command

    add_completion_command(commands)
    # The usage line names every command there is, from the parser itself (it cannot drift).
    commands.metavar = "{" + ",".join(commands.choices) + "}"
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader closed early: what it read is all it wanted. Whatever is still buffered
        # would fail again at exit, so stdout goes to devnull (Python's documented recipe).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["emulator"]:  # ciqueue.dev.stack adds --seed-from-config to its options
        from ciqueue.dev.stack import emulator_main

        return int(emulator_main(args_list[1:]) or 0)
    if args_list[:1] == ["invoke"]:  # ciqueue.dev.invoke parses its own options
        from ciqueue.dev.invoke import invoke_main

        return int(invoke_main(args_list[1:]))
    if args_list[:1] == ["local"]:  # ciqueue.dev.stack parses its own options
        from ciqueue.dev.stack import local_main

        return int(local_main(args_list[1:]))
    if args_list[:1] == ["package"]:
        from ciqueue.cli.progress import for_person
        from ciqueue.deploy.packaging import main as package_main

        progress = for_person("package")
        try:
            return int(package_main(args_list[1:], progress=progress) or 0)
        finally:
            if progress is not None:
                progress.close()
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except UsageError as exc:
        _fail(f"error: {exc}")
        return EXIT_USAGE
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    if args.command == "emulator":  # reached only after global options, e.g. --endpoint
        from ciqueue.dev.stack import emulator_main

        return int(emulator_main([]) or 0)
    if args.command == "demo":
        if args.cli:
            from ciqueue.dev.tour import run as run_demo

            return int(run_demo(main))
        from ciqueue.dev.rehearsal import main as rehearsal_main

        return int(rehearsal_main([]))
    if args.command in SCHEDULE_COMMANDS:
        return run_schedule_command(args)
    if args.command == "token":
        return run_token_command(args)
    if args.command == "completion":
        from ciqueue.cli.completion import run_completion_command

        return run_completion_command(args, parser)
    if args.command == "overrides":
        return run_overrides(args)
    if args.command not in ("queues", "buckets") or args.action is None:
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        wanted = "queues {list,show,pause,resume,set-callback}" if args.command == "queues" else None
        wanted = "buckets {list}" if args.command == "buckets" else wanted
        _fail(f"error: command: choose one of {wanted or ', '.join(commands.choices)}")
        return EXIT_USAGE
    return _run_queues(args)


def _run_queues(args: argparse.Namespace) -> int:
    import requests

    try:
        return _dispatch(args)
    except InvalidInput as exc:
        _fail(f"error: {exc}")
        return EXIT_USAGE
    except CiQueueError as exc:
        message = str(exc)
        if "[RequestId:" not in message:  # every failure line names the request it concerns, or '-'
            message += f" [RequestId: {getattr(exc, 'request_id', None) or '-'}]"
        _fail(f"error: {message}")
        return EXIT_FAILED
    except requests.RequestException as exc:
        _fail(f"error: TransportError: {type(exc).__name__} [RequestId: -]")
        return EXIT_FAILED
    except KeyboardInterrupt:
        _fail("error: interrupted")
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    args.deadline = deadline_for(args)
    if args.command == "buckets":
        return _list_buckets(args)
    kind = parse_kind(args.kind)
    if args.action == "list":
        return _list(args, kind)
    if args.action in ("pause", "resume") and wants_executor(args):
        return run_override_change(args)  # an override, a reason, an id: the executor, as HTTP
    if args.action == "set-callback":
        notify = notify_from_args(args, kind)  # judged before any request is sent
    client = make_client(args)
    if args.action == "show":
        return _show(client, kind, args)

    from ciqueue.ci.operations import change_queue

    action = args.action.replace("-", "_")  # set-callback on the command line
    result = change_queue(
        client,
        kind,
        args.queue_id,
        action,
        notify=notify if action == "set_callback" else None,
        dry_run=args.dry_run,
        deadline=args.deadline,
        actor=cli_actor(),
    )
    _print_result(result, args.json)
    return EXIT_OK


def cli_actor() -> str:
    """Who every command line change is by, in audit lines, results and the state's history:
    ``cli:<login name>`` (``cli`` when the system knows no name for this user). The one helper for
    every CLI door: a plain pause/resume/set-callback, ``reconcile`` and the override commands."""
    try:
        name = getpass.getuser().strip()
    except Exception:  # no USER/LOGNAME and no passwd entry (a bare container)
        name = ""
    return f"cli:{name}" if name else "cli"


def make_client(args: argparse.Namespace) -> CIClient:
    """A client for the bucket (None: bucket listings only) and region on the command line
    (credentials from the env)."""
    region = args.region or os.environ.get(ENV_REGION, "").strip()
    if not region:
        raise InvalidInput("region", f"is required: pass --region or set {ENV_REGION}")
    endpoint = getattr(args, "endpoint", None) or os.environ.get(ENV_ENDPOINT, "").strip() or None
    from ciqueue.ci.client import CIClient

    return CIClient(getattr(args, "bucket", None), region, endpoint=endpoint)


def _list_buckets(args: argparse.Namespace) -> int:
    """``buckets list``: one listing per kind (every kind unless --kind), in the client's region."""
    kinds = [parse_kind(args.kind, "--kind")] if args.kind is not None else list(QueueKind)
    client = make_client(args)
    rows: list[tuple[QueueKind, Any]] = []
    request_ids: list[str] = []
    for kind in kinds:
        listing = client.list_buckets(kind, regions=[client.region], deadline=args.deadline)
        rows += [(kind, bucket) for bucket in listing.buckets]
        request_ids += listing.request_ids
    if args.json:
        buckets = [
            {"kind": kind.value, "bucket": b.bucket_id, "region": b.region, "create_time": b.create_time}
            for kind, b in rows
        ]
        _print_json({"region": client.region, "buckets": buckets, "request_ids": request_ids})
    else:
        from ciqueue.cli.render import buckets_table

        print(buckets_table(rows))
    return EXIT_OK


def notify_from_args(args: argparse.Namespace, kind: QueueKind) -> NotifyConfig:
    """The NotifyConfig a set-callback command line asks for, judged by the CI rules and by what
    ``kind`` takes (``--format`` defaults to JSON only for kinds that have a ResultFormat)."""
    problems: list[Problem] = []
    if args.url is None and args.format:
        problems.append(Problem("--format", "only goes with --url"))
    if args.off and args.event:
        problems.append(Problem("--event", "only goes with --url or --tdmq-mode"))
    if args.tdmq_mode is None:
        problems += [
            Problem(f"--tdmq-{name}", "only goes with --tdmq-mode")
            for name in ("region", "name")
            if getattr(args, f"tdmq_{name}")
        ]
    if problems:
        raise InvalidInput(problems)

    from ciqueue.ci.kinds import spec_for
    from ciqueue.ci.models import requested_notify_config

    if args.off:
        return requested_notify_config(state="Off", kind=kind)
    if args.url is not None:
        default_format = "JSON" if spec_for(kind).result_format else None
        return requested_notify_config(
            state="On",
            type="Url",
            url=args.url,
            event=args.event or DEFAULT_NOTIFY_EVENT,
            result_format=args.format or default_format,
            kind=kind,
        )
    return requested_notify_config(
        state="On",
        type="TDMQ",
        mq_mode=args.tdmq_mode,
        mq_region=args.tdmq_region,
        mq_name=args.tdmq_name,
        event=args.event or DEFAULT_NOTIFY_EVENT,
        kind=kind,
    )


def _list(args: argparse.Namespace, kind: QueueKind) -> int:
    if args.state is not None and args.state not in QUEUE_STATES:
        raise InvalidInput("--state", f"must be one of {', '.join(QUEUE_STATES)} (got {args.state!r})")
    client = make_client(args)
    listing = client.list_queues(kind, state=args.state, deadline=args.deadline)
    if args.json:
        from ciqueue.ci.operations import queue_to_dict

        _print_json(
            {
                "kind": kind.value,
                "queues": [queue_to_dict(q) for q in listing.queues],
                "request_ids": listing.request_ids,
            }
        )
    else:
        from ciqueue.cli.render import queues_table

        print(queues_table(listing.queues))
    return EXIT_OK


def _show(client: CIClient, kind: QueueKind, args: argparse.Namespace) -> int:
    queue, request_id = client.get_queue(kind, args.queue_id, deadline=args.deadline)
    if args.json:
        from ciqueue.ci.operations import queue_to_dict

        _print_json({"kind": kind.value, "queue": queue_to_dict(queue), "request_ids": [request_id]})
    else:
        from ciqueue.cli.render import queue_details

        print(queue_details(queue))
    return EXIT_OK


def _print_result(result: OperationResult, as_json: bool) -> None:
    if as_json:
        _print_json(result.to_dict())
        return
    from ciqueue.cli.render import operation_summary

    print(operation_summary(result))


def _print_json(data: dict[str, Any]) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def _fail(line: str, stream: TextIO | None = None) -> None:
    print(line.replace("\n", " "), file=stream or sys.stderr)


# --- schedule commands: config check|schema, plan, reconcile, package ---------------------------

SCHEDULE_COMMANDS = ("config", "plan", "reconcile", "package", "status")


def add_schedule_commands(commands: Any) -> None:
    """``config check FILE``, ``config schema``, ``plan``, ``reconcile`` and ``package``."""
    config = commands.add_parser("config", help="check a schedule file or print its JSON Schema")
    config_actions = config.add_subparsers(dest="action", metavar="{check,schema}")
    check = config_actions.add_parser("check", help="validate a schedule file; exit 2 naming each problem")
    check.add_argument("file")
    config_actions.add_parser("schema", help="print the JSON Schema of the schedule file")

    plan = commands.add_parser("plan", help="show the coming pauses, resumes and callback switches")
    plan.add_argument("--config", help=f"schedule file (default: env {ENV_CONFIG})")
    plan.add_argument("--from", dest="start", help="ISO time to start from (default: now)")
    _add_now(plan)
    plan.add_argument("--days", type=float, default=7.0, help="how many days ahead (default 7)")
    plan.add_argument("--json", action="store_true", help="print JSON for scripts")
    plan.add_argument(
        "--svg",
        metavar="FILE",
        help="also draw the horizon as an SVG timeline into FILE (with --queues: their overrides too)",
    )
    plan.add_argument(
        "--queues",
        action="store_true",
        help="read the queues the targets cover (credentials from the environment) and plan per queue",
    )
    plan.add_argument("--endpoint", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    _add_timeout(plan)

    reconcile = commands.add_parser("reconcile", help="run one scheduler tick now")
    reconcile.add_argument("--config", help=f"schedule file (default: env {ENV_CONFIG})")
    reconcile.add_argument("--dry-run", action="store_true", help="decide and show, change nothing")
    _add_now(reconcile)
    reconcile.add_argument("--json", action="store_true", help="print the full report as JSON")
    reconcile.add_argument("--endpoint", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    _add_timeout(reconcile)

    commands.add_parser("package", help="build the SCF layer and function zips", add_help=False)


def _add_now(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--now",
        metavar="TIME",
        help="run as if it were TIME, an ISO instant with a UTC offset (a rehearsal; default: the clock)",
    )


def run_schedule_command(args: argparse.Namespace) -> int:
    import logging

    import requests

    # What the library logs (a scope it could not read, ...) is in the report these commands
    # print; without a handler Python's last resort would print each such line a second time.
    logging.getLogger("ciqueue").addHandler(logging.NullHandler())

    try:
        if args.command == "config":
            return _config_command(args)
        if args.command == "plan":
            return _plan_command(args)
        if args.command == "status":
            return run_status(args)
        return _reconcile_command(args)
    except InvalidInput as exc:
        where = getattr(args, "file", None) or getattr(args, "config", None)
        for problem in exc.problems:
            _fail(f"{where}: {problem}" if where else f"error: {problem}")
        return EXIT_USAGE
    except CiQueueError as exc:
        _fail(f"error: {exc}")
        return EXIT_FAILED
    except requests.RequestException as exc:
        _fail(f"error: TransportError: {type(exc).__name__} [RequestId: -]")
        return EXIT_FAILED


def _now(args: argparse.Namespace) -> Any:
    """The instant the command runs at: ``--now`` (a rehearsal), else what the functions would
    read (``CIQUEUE_NOW`` when set, the real clock otherwise), one instant for the whole command."""
    from ciqueue.app.runtime import clock_from_env, parse_now

    text = getattr(args, "now", None)
    return parse_now(text, "--now") if text is not None else clock_from_env(os.environ)()


def _load_schedule(args: argparse.Namespace) -> Any:
    """The config ``--config`` (or ``CIQUEUE_CONFIG``) names, read as the functions read theirs:
    one location rule (``state.location.parse_location``): a file path, ``file://…`` or
    ``cos://bucket-appid/key[?region=…]``, fetched with the environment's credentials from COS (or
    the ``--endpoint``/``CIQUEUE_ENDPOINT`` emulator) by ``runtime.load_config_location``."""
    from ciqueue.schedule.load import load_config
    from ciqueue.state.location import parse_location

    location = args.config or os.environ.get(ENV_CONFIG, "").strip()
    if not location:
        raise InvalidInput("--config", f"is required: pass --config FILE or set {ENV_CONFIG}")
    args.config = location
    where = parse_location(location, environ=os.environ, field_name="config", default_key="")
    if where.scheme == "cos":
        from ciqueue.app.runtime import load_config_location
        from ciqueue.ci.credentials import Credentials

        endpoint = getattr(args, "endpoint", None) or os.environ.get(ENV_ENDPOINT, "").strip() or None
        return load_config_location(
            location, Credentials.from_env(os.environ), endpoint, now=_now(args), environ=os.environ
        )
    if not os.path.isfile(where.path):
        raise InvalidInput("config", "file not found")
    with open(where.path, encoding="utf-8") as handle:
        return load_config(handle.read(), now=_now(args))


def _config_command(args: argparse.Namespace) -> int:
    if args.action == "schema":
        from ciqueue.schedule.config import config_json_schema

        _print_json(config_json_schema())
        return EXIT_OK
    if args.action != "check":
        _fail("error: config: choose check FILE or schema")
        return EXIT_USAGE
    args.config = args.file
    config = _load_schedule(args)
    print(
        f"{args.file}: OK ({len(config.targets)} targets, {len(config.windows)} windows, "
        f"{len(config.rotations)} rotations)"
    )
    return EXIT_OK


def _plan_command(args: argparse.Namespace) -> int:
    from ciqueue.schedule.config import zone
    from ciqueue.schedule.plan import plan, render_plan
    from ciqueue.timefmt import parse_instant

    config = _load_schedule(args)
    if not 0 < args.days <= MAX_PLAN_DAYS_CLI:
        raise InvalidInput(
            "--days", f"must be more than 0 and at most {MAX_PLAN_DAYS_CLI} (got {args.days:g})"
        )
    now = _now(args)
    start = now
    if args.start:
        try:
            start = parse_instant(args.start)
        except ValueError:
            raise InvalidInput(
                "--from", f"must be an ISO time like 2026-05-01T02:00 (got {args.start!r})"
            ) from None
        if start.tzinfo is None:  # a local time of the schedule's zone
            start = start.replace(tzinfo=zone(config.timezone))
    observed = None
    failed_reads = False
    from ciqueue.app.runtime import Runtime

    endpoint = getattr(args, "endpoint", None) or None
    runtime = Runtime.from_env(config=config, endpoint=endpoint, clock=lambda: now)
    # The overrides the functions and reconcile enforce pin their queues in the plan too.
    try:
        doc, _ = runtime.state.load()
        overrides = doc.engine_overrides()
    except CiQueueError as exc:
        _fail(f"error: could not read the overrides from the state store: {exc}")
        overrides, failed_reads = [], True
    if args.queues:
        from ciqueue.app.reconcile import observe

        observed, report = observe(runtime, deadline=deadline_for(args))
        # A scope that could not be read makes the plan incomplete: each is said once and the
        # exit status is 1; with nothing read there is no plan to show ("no transitions" would lie).
        for entry in report.errors:
            _fail(f"error: could not read {entry.get('scope')}: {entry.get('message')}")
        for warning in report.warnings:
            _fail(f"warning: {warning}")
        if report.errors and not observed:
            return EXIT_FAILED
        failed_reads = failed_reads or bool(report.errors)
    transitions = plan(config, start, args.days, observed=observed, overrides=overrides)
    if args.svg:
        _write_plan_svg(args.svg, config, now, start, args.days, observed, overrides if args.queues else [])
    if args.json:
        _print_json(
            {"from": start.isoformat(), "days": args.days, "transitions": [t.to_dict() for t in transitions]}
        )
    else:
        print(render_plan(transitions, config.timezone))
    return EXIT_FAILED if failed_reads else EXIT_OK


def _write_plan_svg(
    path: str, config: Any, now: Any, start: Any, days: float, observed: Any, overrides: list[Any]
) -> None:
    """The plan's picture (``schedule.timeline``, the console's renderer) into ``path``."""
    from ciqueue.schedule.timeline import week_svg

    live = [o for o in overrides if o.active_at(now)]
    svg = week_svg(config, now, start=start, days=days, observed=observed, overrides=live)
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(svg)
    except OSError as exc:
        raise InvalidInput("--svg", f"cannot write {path!r} ({exc.strerror or exc})") from None
    _fail(f"wrote the timeline to {path}")


def _reconcile_command(args: argparse.Namespace) -> int:
    from ciqueue.app.reconcile import reconcile
    from ciqueue.app.runtime import Runtime

    config = _load_schedule(args)
    endpoint = getattr(args, "endpoint", None) or None
    now = _now(args)
    runtime = Runtime.from_env(config=config, endpoint=endpoint, clock=lambda: now)
    # The audit trail goes to stderr, as with ``invoke``: stdout is the report alone (one JSON
    # document with --json), so a script can read it whatever the tick changed.
    from ciqueue.cli.progress import for_person

    # A person at a terminal sees how far a long tick is (stderr only; never piped, never --json).
    progress = for_person("reconcile", json=args.json, stream=sys.stderr)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            report = reconcile(
                runtime,
                dry_run=True if args.dry_run else None,
                deadline=deadline_for(args),
                actor=cli_actor(),
                progress=progress,
            )
    finally:
        if progress is not None:
            progress.close()
    # No fan-out unless CIQUEUE_INVOKER=scf: the whole fleet is reconciled here, in this report.
    data = report.to_dict(decisions=args.json)
    if args.json:
        _print_json(data)
    else:
        _print_reconcile(data, report.now, config.timezone)
    return EXIT_FAILED if data["errors"] else EXIT_OK


def _print_reconcile(data: dict[str, Any], now: Any, tz: str) -> None:
    for decision in data["decisions"]:
        if decision["action"] != "none":
            print(f"{decision['action']:<13} {decision['queue']}  {decision['reason']}")
    for error in data["errors"]:
        where = error.get("queue") or error.get("scope") or error.get("stage")
        print(f"error         {where}  {error['message']}")
    for shard in data["shards"]:
        pairs = ", ".join("/".join(p) for p in shard["shard"])
        print(f"shard         {shard['queues']} queues -> {shard['function']}: {pairs}")
    counts: dict[str, int] = data["counts"]
    summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items())) or "nothing to decide"
    mode = " (dry run: nothing changed)" if data["dry_run"] else ""
    from ciqueue.cli.render import local_time

    print(f"{data['observed']} queues observed at {local_time(now, tz)}: {summary}{mode}")


# --- status: each queue's state, why, until when, next change ------------------------------------


def add_status_command(commands: Any) -> None:
    """``status [--config F] [QUEUE...] [--json] [--now TIME]`` (``app.status``, the answer the
    console and ``GET /queues`` give)."""
    status = commands.add_parser(
        "status", help="each queue's state, why it is so, until when, and its next change"
    )
    status.add_argument(
        "queues",
        nargs="*",
        metavar="QUEUE",
        help="a queue id, or BUCKET/REGION/KIND/ID (default: every queue the config covers)",
    )
    status.add_argument("--config", help=f"schedule file (default: env {ENV_CONFIG})")
    _add_now(status)
    status.add_argument("--json", action="store_true", help="print one JSON document for scripts")
    status.add_argument("--endpoint", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    _add_timeout(status)


def status_selection(texts: Sequence[str]) -> list[str]:
    """The QUEUE arguments, each a queue id or a ``bucket/region/kind/id`` key, judged before
    anything is read (InvalidInput naming ``QUEUE``)."""
    from ciqueue.ci.identifiers import bucket_problem, queue_id_problem, region_problem

    problems: list[Problem] = []
    kinds = ", ".join(KIND_NAMES)
    for text in texts:
        parts = text.split("/")
        if len(parts) == 1:
            found = [queue_id_problem(text, "QUEUE")]
        elif len(parts) == 4:
            bucket, region, kind, queue_id = parts
            found = [
                bucket_problem(bucket, "QUEUE"),
                region_problem(region, "QUEUE"),
                None if kind in KIND_NAMES else Problem("QUEUE", f"kind must be one of {kinds}"),
                queue_id_problem(queue_id, "QUEUE"),
            ]
        else:
            found = [Problem("QUEUE", f"must be a queue id or BUCKET/REGION/KIND/ID (got {text!r})")]
        problems += [p for p in found if p is not None]
    if problems:
        raise InvalidInput(problems)
    return list(texts)


def run_status(args: argparse.Namespace) -> int:
    from ciqueue.app.reconcile import observe
    from ciqueue.app.runtime import Runtime
    from ciqueue.app.status import queue_statuses
    from ciqueue.cli.render import status_text

    try:
        wanted = status_selection(args.queues)
    except InvalidInput as exc:  # about the command line, not the config file
        for problem in exc.problems:
            _fail(f"error: {problem}")
        return EXIT_USAGE
    config = _load_schedule(args)
    now = _now(args)
    endpoint = getattr(args, "endpoint", None) or None
    runtime = Runtime.from_env(config=config, endpoint=endpoint, clock=lambda: now)
    doc, _ = runtime.state.load()  # the overrides the functions and reconcile enforce
    observed, report = observe(runtime, deadline=deadline_for(args))
    errors = [
        {"queue": None, "scope": e.get("scope"), "code": e.get("code"), "message": e.get("message")}
        for e in report.errors
    ]
    if wanted:
        chosen = []
        for text in wanted:
            matches = [q for q in observed if text in (q.key.text, q.queue_id)]
            if not matches:
                scope = "/".join(text.split("/")[:3]) if "/" in text else None
                failed = next((e for e in errors if scope is not None and e["scope"] == scope), None)
                message = failed["message"] if failed else "no queue the config covers has this id"
                errors.append({"queue": text, "scope": scope, "code": "QueueNotFound", "message": message})
            chosen += [q for q in matches if q not in chosen]
        observed = chosen
    statuses = queue_statuses(config, observed, doc.engine_overrides(), doc.engine_last_applied(), now)
    if args.json:
        _print_json(
            {
                "now": now.isoformat(),
                "timezone": config.timezone,
                "queues": [s.to_dict() for s in statuses],
                "errors": errors,
                "warnings": list(report.warnings),
            }
        )
    else:
        print(status_text(statuses, config.timezone, now))
        for error in errors:
            _fail(f"error: could not read {error['queue'] or error['scope']}: {error['message']}")
        for warning in report.warnings:
            _fail(f"warning: {warning}")
    return EXIT_FAILED if errors else EXIT_OK


# --- token commands: new, hash -------------------------------------------------------------------


def add_token_commands(commands: Any) -> None:
    """``token new NAME`` and ``token hash NAME`` (the token is read from standard input)."""
    token = commands.add_parser("token", help="make HTTP API tokens and their CIQUEUE_API_TOKENS entries")
    actions = token.add_subparsers(dest="action", metavar="{new,hash}")
    for name, text in (
        ("new", "make a random token: the token alone on stdout (shown once), its entry on stderr"),
        ("hash", "print the entry of a token read from standard input (kept out of shell history)"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("name", help="who holds the token; audit lines name callers token:<name>")
        action.add_argument(
            "--scopes", default="read,operate", help="comma list of read, operate (default both)"
        )
        if name == "new":
            action.add_argument(
                "--json", action="store_true", help="print one JSON object: token, entry and the list"
            )


def run_token_command(args: argparse.Namespace) -> int:
    """``token new``: stdout is the token alone (``TOKEN=$(ciqueue token new alice)``), stderr the
    ``CIQUEUE_API_TOKENS`` entry and the value it goes in (``auth.load_tokens`` reads a JSON list of
    entries: a first token is that list of one, a further one is appended to the list there is);
    ``--json`` prints one object ``{name, token, entry, CIQUEUE_API_TOKENS}`` on stdout and nothing
    on stderr. ``token hash``: the entry on stdout (as before), the one-entry list on stderr."""
    from ciqueue.api import auth

    if args.action not in ("new", "hash"):
        _fail("error: token: choose new or hash")
        return EXIT_USAGE
    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    try:
        secret = auth.generate_token() if args.action == "new" else sys.stdin.readline().strip()
        entry = auth.token_entry(args.name, secret, scopes)
    except InvalidInput as exc:
        _fail(f"error: {exc}")
        return EXIT_USAGE
    value = json.dumps([entry])
    if args.action == "hash":
        print(json.dumps(entry))
        print(
            "as the whole value (a JSON list; with other tokens, append the entry to the list there is):\n"
            f"{ENV_API_TOKENS}='{value}'",
            file=sys.stderr,
        )
        return EXIT_OK
    if args.json:
        _print_json({"name": args.name, "token": secret, "entry": entry, ENV_API_TOKENS: value})
        return EXIT_OK
    print(secret)
    print(
        f"the token for {args.name} is on stdout, shown once. Its {ENV_API_TOKENS} entry (digest only):\n"
        f"{json.dumps(entry)}\n"
        "as the whole value (a JSON list; with other tokens, append the entry to the list there is):\n"
        f"{ENV_API_TOKENS}='{value}'",
        file=sys.stderr,
    )
    return EXIT_OK


# --- overrides: pause|resume --for/--until/--reason, overrides list|cancel -----------------------
#
# ``queues pause|resume … --for D | --until T [--reason R]``, ``overrides list``, ``overrides cancel ID``.
#
# - One schema, one executor: the options become the very command the HTTP API's
#   ``POST /queues/…/pause`` body makes (``{"for", "until", "reason"}``), judged by
#   ``app.commands.parse_command`` and carried out by ``app.executor.execute``. A bad ``--for`` gets
#   the rule text it gets at every other door; only the field is named as typed here (``--for``,
#   ``--until``, ``--reason``; a queue's ``bucket``, ``region``, ``kind``, ``queue_id`` as the plain
#   commands name them).
# - ``--until`` is an ISO 8601 time with a UTC offset, or ``cancelled`` (an override with no end,
#   as ``"until": "cancelled"``). ``--for`` and ``--until`` exclude each other (the schema's rule).
# - ``--id KEY`` is the body's ``id``: the override's id derives from it and the queue, so a retried
#   command (or a script) names the same override and stores it once.
# - With ``--for``, ``--until``, ``--reason`` or ``--id`` a pause/resume goes through the executor, as
#   the HTTP API's call with that body: the queue is checked to exist, the override (if any) is
#   stored before the queue changes, and the change joins the state's history. Without any of them
#   it stays the plain change it always was (``ci.operations.change_queue``, no state touched).
# - The store is the one the functions and ``ciqueue reconcile`` use: ``state.location``'s selector
#   (``CIQUEUE_STATE_BUCKET``/``_KEY`` on COS, else ``CIQUEUE_STATE_FILE``, else the config's
#   ``settings.state``, else the per-user ``$XDG_STATE_HOME/ciqueue/state.json``). The config is
#   ``--config`` or ``CIQUEUE_CONFIG``, read as ``reconcile`` reads it; it may name the store and
#   it lets a cancel hand the queue back to the schedule at once.
# - ``overrides cancel`` is ``DELETE /overrides/{id}``'s work: the override goes (one state write,
#   with its history entry); with a schedule config the queue is reconciled at once, without one it
#   returns to the schedule at the next reconcile. ``overrides list`` shows every stored override,
#   active or expired (an expired one stays stored until the next reconcile removes it), times in
#   the config's zone (UTC without one) with the zone's abbreviation.
# - The actor in audit lines and history is ``cli:<login name>``. The clock is ``CIQUEUE_NOW`` when
#   set (a rehearsal), else the real one: one instant for the whole command.
# - Exit status, as for every ``ciqueue`` command: 0 done, 2 bad input (the executor's 400, and
#   missing credentials: on the command line the environment is yours to fix), 1 anything else the
#   executor reports: the service, the network, the store, and an id that names nothing (an unknown
#   queue or override is a 404 to the HTTP API; the CLI says 1 for both, as it always has for
#   ``QueueNotFound``). Errors are one stderr line: ``error: FIELD: rule`` or
#   ``error: Code: message [RequestId: …]``.

# A command field as the CLI names it (the option the user typed).
_CLI_FIELDS = {"for": "--for", "until": "--until", "reason": "--reason", "id": "--id"}
_OVERRIDE_OPTIONS = ("for_", "until", "reason", "command_id")


def add_override_options(parser: argparse.ArgumentParser) -> None:
    """``--for``, ``--until``, ``--reason`` and ``--config`` on ``queues pause`` and ``resume``."""
    parser.add_argument(
        "--for",
        dest="for_",
        metavar="DURATION",
        help="pin the queue's State this long, an override (30m, 2h, 1h30m, 1d; at most 7d)",
    )
    parser.add_argument(
        "--until",
        metavar="TIME",
        help="pin it until TIME (ISO 8601 with a UTC offset, at most 7 days ahead), "
        "or 'cancelled': until someone cancels it",
    )
    parser.add_argument("--reason", help="why (at most 256 characters; in audit lines and history)")
    parser.add_argument(
        "--id",
        dest="command_id",
        metavar="KEY",
        help="idempotency key, as the HTTP body's id: the same key names the same override, "
        "so a retried command adds no second one",
    )
    _add_config(parser)


def wants_executor(args: argparse.Namespace) -> bool:
    """True when a pause/resume asks for more than a plain change (an override, a reason, an id)."""
    return any(getattr(args, name, None) is not None for name in _OVERRIDE_OPTIONS)


def add_override_commands(commands: Any) -> None:
    """``overrides list [--queue Q] [--json]`` and ``overrides cancel ID [--reason R] [--json]``."""
    overrides = commands.add_parser("overrides", help="list or cancel the overrides that pin queues")
    actions = overrides.add_subparsers(dest="action", metavar="{list,cancel}")
    listing = actions.add_parser(
        "list", help="every stored override: queue, State pinned, active or expired, until, who, why"
    )
    listing.add_argument(
        "--queue", help="only this queue's: bucket/region/kind/queue_id, or a queue id", metavar="QUEUE"
    )
    listing.add_argument("--json", action="store_true", help="print JSON for scripts")
    listing.add_argument("--endpoint", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    _add_config(listing)
    cancel = actions.add_parser(
        "cancel",
        help="cancel an override; with a schedule config the queue is reconciled at once, "
        "else at the next reconcile",
    )
    cancel.add_argument("override_id", metavar="ID")
    cancel.add_argument("--reason", help="why (in the audit line and history)")
    cancel.add_argument("--json", action="store_true", help="print JSON for scripts")
    cancel.add_argument("--endpoint", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    _add_timeout(cancel)
    _add_config(cancel)


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        help=f"schedule file: its zone, its settings.state, its targets (default: env {ENV_CONFIG})",
    )


# --- running them ---------------------------------------------------------------------------------


def run_override_change(args: argparse.Namespace) -> int:
    """``queues pause|resume`` with ``--for``/``--until``/``--reason``: through the executor."""
    return _override_guarded(_override_change, args)


def run_overrides(args: argparse.Namespace) -> int:
    """``overrides list|cancel``."""
    if args.action == "list":
        return _override_guarded(_override_list, args)
    if args.action == "cancel":
        return _override_guarded(_override_cancel, args)
    _fail("error: command: choose one of overrides {list,cancel}")
    return EXIT_USAGE


def _override_guarded(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    import requests

    try:
        return run(args)
    except InvalidInput as exc:
        _fail(f"error: {_problems_line(exc.problems)}")
        return EXIT_USAGE
    except CiQueueError as exc:
        _fail(f"error: {_with_request_id(str(exc), getattr(exc, 'request_id', None))}")
        return EXIT_FAILED
    except requests.RequestException as exc:
        _fail(f"error: TransportError: {type(exc).__name__} [RequestId: -]")
        return EXIT_FAILED


def _override_change(args: argparse.Namespace) -> int:
    region = args.region or os.environ.get(ENV_REGION, "").strip()
    if not region:
        raise InvalidInput("region", f"is required: pass --region or set {ENV_REGION}")
    body: dict[str, Any] = {
        "for": args.for_,
        "until": args.until,
        "reason": args.reason,
        "id": args.command_id,
    }
    queue = {"bucket": args.bucket, "region": region, "kind": args.kind, "queue_id": args.queue_id}
    command = _override_parse(
        {"action": args.action, "queues": [queue], **{k: v for k, v in body.items() if v is not None}}
    )
    runtime = _override_runtime(args, needs_ci=True)
    outcome = _override_execute(command, runtime, args, dry_run=args.dry_run)
    return _override_report(outcome, args, runtime.config)


def _override_cancel(args: argparse.Namespace) -> int:
    fields = {"action": "cancel_override", "override_id": args.override_id, "reason": args.reason}
    command = _override_parse({k: v for k, v in fields.items() if v is not None})
    runtime = _override_runtime(args, needs_ci=None)
    outcome = _override_execute(command, runtime, args, dry_run=False)
    return _override_report(outcome, args, runtime.config)


def _override_list(args: argparse.Namespace) -> int:
    from ciqueue.api.routes import override_dict
    from ciqueue.cli.render import overrides_table

    wanted = _queue_filter(args.queue) if args.queue is not None else None
    runtime = _override_runtime(args, needs_ci=False)
    now = runtime.clock()
    doc, _ = runtime.state.load()
    found = [o for o in doc.overrides if wanted is None or wanted in (o.key, o.queue_id)]
    tz = _output_zone(runtime.config)
    if args.json:
        rows = [{**override_dict(o), "active": o.active_at(now)} for o in found]
        _print_json({"overrides": rows, "time": now.isoformat(), "timezone": tz})
    else:
        print(overrides_table(found, now, tz))
    return EXIT_OK


# --- pieces ---------------------------------------------------------------------------------------


def _override_parse(data: dict[str, Any]) -> Command:
    from ciqueue.app.commands import parse_command

    try:
        return parse_command(data)
    except InvalidInput as exc:
        raise InvalidInput([_cli_problem(p) for p in exc.problems]) from None


def _cli_problem(problem: Problem) -> Problem:
    """The problem under the name the CLI gives its field (the rule's text untouched)."""
    name = problem.field.removeprefix("queues[0].")
    return Problem(_CLI_FIELDS.get(name, name), problem.rule)


def _problems_line(problems: list[Problem]) -> str:
    return "; ".join(str(_cli_problem(p)) for p in problems)


def _override_runtime(args: argparse.Namespace, *, needs_ci: bool | None) -> Runtime:
    """The runtime the functions would build here: the config (``--config`` or ``CIQUEUE_CONFIG``,
    none when neither), the store it and the environment choose, the command's one instant.

    ``needs_ci``: True, the command calls CI, so missing credentials are bad input now (exit 2,
    nothing written); None, only when a config makes it reconcile (a cancel); False, never."""
    from ciqueue.app.runtime import Runtime

    config = _load_schedule(args) if (args.config or os.environ.get(ENV_CONFIG, "").strip()) else None
    now = _now(args)
    endpoint = getattr(args, "endpoint", None) or None
    runtime = Runtime.from_env(config=config, endpoint=endpoint, clock=lambda: now)
    if runtime.credentials is None and (needs_ci or (needs_ci is None and config is not None)):
        from ciqueue.ci.credentials import Credentials

        Credentials.from_env()  # raises CredentialsMissing naming the variables it reads
    return runtime


def _override_execute(
    command: Command, runtime: Runtime, args: argparse.Namespace, *, dry_run: bool
) -> CommandOutcome:
    from ciqueue.app.executor import execute

    # The audit trail goes to stderr, as reconcile's: stdout is the report alone.
    with contextlib.redirect_stdout(sys.stderr):
        return execute(command, runtime, actor=cli_actor(), deadline=deadline_for(args), dry_run=dry_run)


def _override_report(outcome: CommandOutcome, args: argparse.Namespace, config: Config | None) -> int:
    """Print the outcome (JSON, or one summary per queue), each failure on stderr; the exit code."""
    if args.json:
        _print_json(outcome.to_dict())
    else:
        text = _override_text(outcome, _output_zone(config), config is not None)
        if text:  # a command refused before it did anything has only its error line
            print(text)
    failed = [(r.get("queue"), r["error"]) for r in outcome.results if isinstance(r.get("error"), dict)]
    for queue, error in failed:  # each queue's failure once, naming the queue
        _fail(f"error: {queue}: {_error_line(error)}")
    if outcome.error is not None and not failed:
        _fail(f"error: {_error_line(outcome.error)}")
    if outcome.ok:
        return EXIT_OK
    return EXIT_USAGE if outcome.status == InvalidInput.http_status else EXIT_FAILED


def _override_text(outcome: CommandOutcome, tz: str, configured: bool) -> str:
    from ciqueue.cli.render import local_time, result_summary

    override = outcome.override
    if outcome.action == "cancel_override":
        if override is None:  # it failed before the override was found
            return ""
        lines = [
            f"cancelled override {override['id']} (it pinned {_override_key(override)} {override['state']})"
        ]
        if not configured:
            lines.append("  no schedule config: the queue returns to the schedule at the next reconcile")
        elif outcome.ok and not outcome.results:
            lines.append("  reconciled now: the queue already is as the schedule wants")
        for result in outcome.results:
            if "error" not in result:  # a failure is said on stderr
                lines.append(f"  reconciled now: {result['action']} ({result['reason']})")
        return "\n".join(lines)
    lines = []
    if override is not None:
        from ciqueue.timefmt import parse_instant

        expires = override.get("expires_at")
        until = local_time(parse_instant(expires), tz) if expires else "cancelled"
        reason = f" ({override['reason']})" if override.get("reason") else ""
        if override.get("dry_run"):
            head = "dry run: an override (not stored) would pin"
        else:
            head = f"override {override['id']} pins"
        lines.append(f"{head} {', '.join(override['queues'])} {override['state']} until {until}{reason}")
    lines += [result_summary(r) for r in outcome.results if "action" in r]
    return "\n".join(lines)


def _override_key(override: dict[str, Any]) -> str:
    return "/".join(str(override.get(k)) for k in ("bucket", "region", "kind", "queue_id"))


def _error_line(error: dict[str, Any]) -> str:
    problems = error.get("problems")
    if error.get("code") == InvalidInput.code and isinstance(problems, list) and problems:
        return _problems_line([Problem(str(p.get("field")), str(p.get("rule"))) for p in problems])
    code, message = str(error.get("code") or ""), str(error.get("message") or "")
    text = message if message.startswith(code) else f"{code}: {message}"
    return _with_request_id(text, error.get("request_id") or error.get("ci_request_id"))


def _with_request_id(message: str, request_id: Any) -> str:
    # Every failure line names the request it concerns, or '-'.
    return message if "[RequestId:" in message else f"{message} [RequestId: {request_id or '-'}]"


def _queue_filter(text: str) -> str:
    """``--queue``: a queue key ``bucket/region/kind/queue_id`` or a bare queue id, by the rules
    every door judges them with."""
    from ciqueue.app.commands import parse_command
    from ciqueue.ci.identifiers import queue_id_problem

    parts = text.split("/")
    if len(parts) == 1:
        problem = queue_id_problem(text, "--queue")
        if problem is not None:
            raise InvalidInput(problem)
        return text
    if len(parts) != 4:
        raise InvalidInput(
            "--queue", f"must be bucket/region/kind/queue_id or a queue id (got {text[:80]!r})"
        )
    queue = dict(zip(("bucket", "region", "kind", "queue_id"), parts, strict=True))
    try:
        command = parse_command({"action": "reconcile", "queues": [queue]})
    except InvalidInput as exc:
        first = exc.problems[0]
        raise InvalidInput("--queue", f"{first.field.removeprefix('queues[0].')}: {first.rule}") from None
    return command.queues[0].key()


def _output_zone(config: Config | None) -> str:
    return config.timezone if config is not None else "UTC"
