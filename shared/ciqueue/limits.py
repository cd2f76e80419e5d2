"""Named limits, in one place: every bound on what ciqueue reads, accepts or sends.

Each name says what it bounds. A limit that two doors need is defined here once and both import
it, so the same input meets the same bound whichever way it arrives. Values that are Tencent
Cloud's documented limits say so and cite the reference (shared/reference/*.md); the others are
ours, with the reason beside them.
"""

from __future__ import annotations

from datetime import timedelta

# --- what CI sends and receives -------------------------------------------------------------
# Identifiers (their rules: ci/identifiers.py). A bucket ``name-APPID`` is the first DNS label of
# its host and the client has always bounded it at 50; a region is one DNS label (at most 63). (A
# queue id has a fixed length, 33: its rule is in ci.identifiers.)
MAX_BUCKET_LENGTH = 50
MAX_REGION_LENGTH = 63
# A CI XML body, request or reply, is refused above this before parsing (queue bodies are a few KiB).
MAX_XML_BYTES = 1024 * 1024
# What one reply may cost, counted while it streams in, on the wire and again decoded (gzip,
# deflate): reading stops at the first byte over, so a huge, compressed or endless reply costs at
# most about this much memory. A CI reply is one XML body, so its bound is the XML one.
MAX_CI_REPLY_BYTES = MAX_XML_BYTES
# A COS object the client reads (the state document, a config file, a command object): the state
# document of a large fleet is a few hundred KiB, so 8 MiB leaves room and still bounds memory.
MAX_COS_REPLY_BYTES = 8 * 1024 * 1024
# Bytes read from the socket per step while a reply streams in (the size and deadline checks run
# between steps).
REPLY_CHUNK_BYTES = 16 * 1024
# The deadline of one command line's calls to CI when ``--timeout`` is not given: long enough for a
# read, a write and a verifying read with retries, short enough that a hung service never hangs a
# shell or a cron job (the bound: at most 30 s).
DEFAULT_CLI_TIMEOUT_S = 30.0
# Element nesting in such a body; CI's deepest queue body nests 4 levels.
MAX_XML_DEPTH = 64
# Queue ids in one DescribeQueues call (CI documents at most 10, comma-separated).
MAX_QUEUE_IDS_PER_REQUEST = 10
# Queues changed in parallel when no config says otherwise (``settings.concurrency``'s default);
# here rather than in schedule.config so that a run without a config never imports the schedule.
DEFAULT_CONCURRENCY = 8
# CI requests per second per bucket when no config says otherwise (``settings.rate_limit``). CI
# documents no QPS for its queue APIs (reference ci-api.md §4, §8: the usage-limits page was not
# found; SlowDown / 1020 "frequency control" exist). This default is ours and conservative: it is
# the default frequency limit Tencent Cloud API documents for its own APIs (20 per second per
# API, region and sub-account, cloud.tencent.com/document/product/1278/109059), far below COS's
# documented 30,000 (mainland) / 3,000 QPS per bucket (tencentcloud.com/document/product/436/14518).
DEFAULT_BUCKET_RATE = 20
MAX_BUCKET_RATE = 1000
# Pages one queue listing may walk before it is refused as endless (100 per page: 100,000 queues).
MAX_LIST_PAGES = 1000
# Queue names (CI documents at most 128 characters; doc queues at most 100: ci.kinds holds which).
MAX_QUEUE_NAME_LENGTH = 128
MAX_DOC_QUEUE_NAME_LENGTH = 100
# Callback URLs: CI documents none; long enough for any real callback, short enough to log.
MAX_CALLBACK_URL_LENGTH = 1024
# TDMQ queue or topic names in a NotifyConfig.
MAX_MQ_NAME_LENGTH = 128
# Clock skew the emulator tolerates before RequestTimeTooSkewed, as COS documents (15 minutes).
MAX_CLOCK_SKEW_S = 15 * 60
# COS object keys (COS documents 850 bytes): the state object and the emulator's objects.
MAX_COS_KEY_BYTES = 850

# --- what the doors accept ------------------------------------------------------------------
# One command's JSON, wherever it comes from (timer Message, event record, COS object, HTTP body).
MAX_COMMAND_BYTES = 64 * 1024
# An HTTP API request body: a body carries one command, so the same bound (413 above it).
MAX_API_BODY_BYTES = MAX_COMMAND_BYTES
# A timer trigger's Message: SCF caps the argument at 4 KB (reference scf.md §1, timer), and the
# deploy check and the handler refuse the same size.
MAX_TIMER_MESSAGE_BYTES = 4 * 1024
# Records in one event: SCF caps an async event at 128 KB, so a longer list is no real trigger.
MAX_EVENT_RECORDS = 10_000
# A CLS event's base64 text, and what it may inflate to (log text compresses well).
MAX_CLS_DATA_CHARS = 256 * 1024
MAX_CLS_DECOMPRESSED_BYTES = 8 * 1024 * 1024
# Nesting of objects/lists (mappings/lists in YAML) in any JSON or YAML document a user sends:
# commands and schedule files. Both nest at most 6 levels; the bound is explicit so that depth is
# refused as bad input before a parser or validator recurses (never a RecursionError).
MAX_NESTING_DEPTH = 64
# A schedule file (YAML or JSON): examples/schedule.yaml is 3 KiB; 256 KiB is room for hundreds
# of targets and windows, and bounds what a hostile file costs to scan.
MAX_CONFIG_BYTES = 256 * 1024
# Values (scalars, mappings, lists) in a schedule file once YAML aliases are expanded: the example
# holds 174. A few hundred bytes of nested aliases ("billion laughs") would otherwise expand to
# 10^9; PyYAML reads about 10-100k values a second, so this bound also caps the time a hostile
# file costs before it is refused (under 3 s measured on a shared, loaded machine).
MAX_CONFIG_VALUES = 20_000
# Queues one command may name.
MAX_QUEUES_PER_COMMAND = 100
# A reason or an actor, in commands and in the state document alike.
MAX_REASON_LENGTH = 256
MAX_ACTOR_LENGTH = 128
# How long an override (a pause or resume "for" / "until") may last.
MAX_OVERRIDE_DURATION = timedelta(days=7)
# An HTTP API bearer token.
MAX_TOKEN_LENGTH = 512
# The ops console (api/ui): a signed-in session lasts one on-call shift, then signs in again; the
# session key must carry at least 256 bits (32 bytes as text); a sign-in form is good for 10 minutes.
CONSOLE_SESSION_TTL = timedelta(hours=8)
CONSOLE_SIGNIN_TTL = timedelta(minutes=10)
MIN_SESSION_KEY_LENGTH = 32
# A session cookie the console reads (a sealed one is ~300 bytes; anything far larger is not ours).
MAX_SESSION_COOKIE_LENGTH = 2048
# Days one plan may cover: over HTTP it is computed inside a sync invocation (bounded time), on the
# command line it runs locally, so the CLI may look further ahead.
MAX_PLAN_DAYS_HTTP = 31
MAX_PLAN_DAYS_CLI = 400
# A TCP port to listen on (0: any free one), as the local servers take it.
MAX_PORT = 65535
# Window occurrences one evaluation may walk before the window is refused as too dense.
MAX_OCCURRENCES = 50_000

# The recent changes the state document keeps (its audit history, which the console shows without a
# log service): an entry stays while it is among the newest MAX_HISTORY_CHANGES and younger than
# MAX_HISTORY_AGE, whichever ends it first. An entry is about 0.5 KB, so the history adds at most
# ~100 KB to the state object every invocation reads; older changes live in the audit log (CLS).
MAX_HISTORY_CHANGES = 200
MAX_HISTORY_AGE = timedelta(days=14)

# --- the SCF platform (reference scf.md §3-4) -----------------------------------------------
SCF_MAX_ENV_BYTES = 4 * 1024  # all env vars of one function together
SCF_MAX_ZIP_BYTES = 50 * 1024 * 1024  # zip upload, function code or layer
SCF_MAX_UNZIPPED_BYTES = 500 * 1024 * 1024  # one function version including its layers
SCF_MAX_SYNC_REQUEST_BYTES = 6 * 1024 * 1024  # a sync invocation's event (HTTP triggers)
SCF_MAX_ASYNC_EVENT_BYTES = 128 * 1024  # an async invocation's event: a fan-out shard's ClientContext
# One Invoke call of the fan-out (InvocationType=Event answers once the event is queued): ours,
# so a hung connection cannot eat the scheduler's tick; the SDK's own default is 60 s.
SCF_INVOKE_TIMEOUT_S = 10
SCF_MAX_TRIGGERS_PER_TYPE = 10
SCF_MAX_LAYERS = 5
SCF_MIN_TIMEOUT_S, SCF_MAX_TIMEOUT_S = 1, 900

# --- the emulator ---------------------------------------------------------------------------
# A request body the emulator reads (COS objects in local mode are small).
MAX_EMULATOR_BODY_BYTES = 4 * 1024 * 1024
