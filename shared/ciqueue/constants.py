"""Names of environment variables, defaults and fixed values, in one place."""

from __future__ import annotations

# Credentials as SCF sets them for a function that has a role.
ENV_SECRET_ID = "TENCENTCLOUD_SECRETID"
ENV_SECRET_KEY = "TENCENTCLOUD_SECRETKEY"
ENV_SESSION_TOKEN = "TENCENTCLOUD_SESSIONTOKEN"
# The region, a name SCF and tccli share (tccli/options_define.py ENV_REGION).
ENV_REGION = "TENCENTCLOUD_REGION"
# Credentials as tccli, Tencent Cloud's CLI, reads them from the environment
# (tccli/options_define.py: ENV_SECRET_ID, ENV_SECRET_KEY, ENV_TOKEN; the Tencent Cloud SDKs'
# EnvironmentVariableCredential reads the same two key names), so a shell set up for tccli works.
ENV_TCCLI_SECRET_ID = "TENCENTCLOUD_SECRET_ID"
ENV_TCCLI_SECRET_KEY = "TENCENTCLOUD_SECRET_KEY"
ENV_TCCLI_TOKEN = "TENCENTCLOUD_TOKEN"
# Every set of credential names read, in precedence order: (SecretId, SecretKey, session token,
# whose names). SCF's first: inside a function they are the role's keys, whatever else is set.
CREDENTIAL_ENV_SETS = (
    (ENV_SECRET_ID, ENV_SECRET_KEY, ENV_SESSION_TOKEN, "SCF's"),
    (ENV_TCCLI_SECRET_ID, ENV_TCCLI_SECRET_KEY, ENV_TCCLI_TOKEN, "tccli's"),
)

# Our own settings.
ENV_ENDPOINT = "CIQUEUE_ENDPOINT"
ENV_LOG_LEVEL = "CIQUEUE_LOG_LEVEL"
# Bearer tokens of the HTTP API: a JSON list of {"name", "sha256", "scopes"} (digests only).
ENV_API_TOKENS = "CIQUEUE_API_TOKENS"
# "true"/"1"/"yes": accept the caller identity a CAM-authenticated Function URL event carries (auth.py).
ENV_TRUST_CAM = "CIQUEUE_TRUST_CAM"
# The ops console (/ui): the HMAC key that signs its session cookies (at least 32 characters; the
# console refuses to serve without it) and, optionally, the origin(s) its pages are served from
# (comma-separated, e.g. https://1250000000-abc.gz.tencentscf.com) when the Host header is not enough.
ENV_SESSION_KEY = "CIQUEUE_SESSION_KEY"
ENV_CONSOLE_ORIGIN = "CIQUEUE_CONSOLE_ORIGIN"
# The path the console's pages live under (behind an API Gateway stage prefix too).
CONSOLE_PATH = "/ui"
# Deployment settings (serverless.yml sets them; see docs/deploy.md).
ENV_CONFIG = "CIQUEUE_CONFIG"  # path of the schedule/config file inside the function
ENV_STATE_BUCKET = "CIQUEUE_STATE_BUCKET"  # COS bucket holding the state object
ENV_STATE_KEY = "CIQUEUE_STATE_KEY"  # key of the state object in that bucket
ENV_WORKER_FUNCTION = "CIQUEUE_WORKER_FUNCTION"  # SCF function the scheduler fans out to
ENV_STATE_FILE = "CIQUEUE_STATE_FILE"  # local state file when no state bucket is set
ENV_STATE_REGION = "CIQUEUE_STATE_REGION"  # region of the state bucket (default: TENCENTCLOUD_REGION)
ENV_INVOKER = "CIQUEUE_INVOKER"  # fan-out: "scf" (the SCF Invoke API); unset: none, a tick does it all
# Where fan-out sends SCF's Invoke API: a host, or http(s)://host[:port] (tests, a stand-in).
# Unset: the internal endpoint inside SCF (no public network needed), the public one elsewhere
# (reference scf.md §4, Invoke API).
ENV_SCF_ENDPOINT = "CIQUEUE_SCF_ENDPOINT"
SCF_API_ENDPOINT = "scf.tencentcloudapi.com"
SCF_INTERNAL_API_ENDPOINT = "scf.internal.tencentcloudapi.com"
# The version and alias fan-out invokes: $DEFAULT, the alias every function has and the one our
# triggers target (Invoke's own default is $LATEST). SCF_NAMESPACE names the caller's namespace.
DEFAULT_WORKER_QUALIFIER = "$DEFAULT"
ENV_SCF_NAMESPACE = "SCF_NAMESPACE"
DEFAULT_SCF_NAMESPACE = "default"
# The state file when nothing names one. On SCF, /tmp is the only writable place; on a machine of
# yours it is per user, where you can find it: $XDG_STATE_HOME/ciqueue/state.json (XDG Base
# Directory spec; XDG_STATE_HOME defaults to ~/.local/state), never one file shared by every
# checkout and user in /tmp (state/location.py chooses).
DEFAULT_STATE_FILE = "/tmp/ciqueue-state.json"
ENV_XDG_STATE_HOME = "XDG_STATE_HOME"
LOCAL_STATE_HOME = "~/.local/state"  # XDG_STATE_HOME's default
LOCAL_STATE_PATH = "ciqueue/state.json"  # under the state home
DEFAULT_STATE_KEY = "ciqueue/state.json"  # the state object when no key is named
DEFAULT_WORKER_FUNCTION = "ciqueue-worker"
# Local mode and rehearsals only: the simulated current time (ISO 8601, e.g. 2026-03-01T02:00:00Z)
# that Runtime.from_env uses as its clock; never set on SCF.
ENV_NOW = "CIQUEUE_NOW"
# Set by SCF in every function's environment (reference scf.md §3): how we know we run there.
ENV_SCF_RUNENV = "TENCENTCLOUD_RUNENV"
ENV_SCF_FUNCTION_NAME = "SCF_FUNCTIONNAME"
# pydantic's own switch (pydantic PR #8767; pydantic/plugin/_loader.py): "__all__" skips the scan
# of every installed distribution's entry points that the first model would pay (~20 ms cold).
# Only the SCF functions set it, by default: they own their process and ciqueue uses no pydantic
# plugin. The library never sets it, so an application that embeds ciqueue keeps its plugins.
ENV_PYDANTIC_DISABLE_PLUGINS = "PYDANTIC_DISABLE_PLUGINS"
PYDANTIC_PLUGINS_OFF = "__all__"

# SCF platform limits we check before deploying (reference scf.md §3-4).
SCF_RUNTIME = "Python3.10"

# The documented demo key pair the emulator always accepts (never a real key).
DEMO_SECRET_ID = "AKIDciqueueDEMOdemoDEMOdemoDEMOdemo00"
DEMO_SECRET_KEY = "ciqueueDemoSecretKeyNotForProduction0"
DEMO_APPID = "1250000000"

# Signing.
SIGN_ALGORITHM = "sha1"
DEFAULT_SIGNATURE_LIFETIME_S = 600

DEFAULT_PAGE_SIZE = 100

QUEUE_STATES = ("Active", "Paused")
NOTIFY_STATES = ("On", "Off")
NOTIFY_TYPES = ("Url", "TDMQ")
NOTIFY_EVENTS = ("TaskFinish", "WorkflowFinish")
# The Event a callback gets when none is named, at every door (CLI, commands, config, the library).
DEFAULT_NOTIFY_EVENT = "TaskFinish"
RESULT_FORMATS = ("XML", "JSON")
MQ_MODES = ("Queue", "Topic")
MQ_REGIONS = ("sh", "bj", "gz", "cd", "hk")
# A callback's fields as commands and the config file name them, and the NotifyConfig element each
# one stands for (what ci.kinds and ci.models judge, and name in their errors).
CALLBACK_FIELD_ELEMENTS = {
    "state": "State",
    "type": "Type",
    "url": "Url",
    "event": "Event",
    "format": "ResultFormat",
    "mq_mode": "MqMode",
    "mq_region": "MqRegion",
    "mq_name": "MqName",
}


# What a client retries: 5xx, 429 and codes that mean "slow down", whatever their status (the
# COS/CI spelling and botocore's throttling names); never another 4xx.
THROTTLING_CODES = frozenset(
    {
        "SlowDown",
        "RequestLimitExceeded",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "BandwidthLimitExceeded",
    }
)
RETRYABLE_STATUSES = frozenset({429}) | frozenset(range(500, 600))
# Statuses that mean "too fast" whatever the code: 429, and 503 (COS's SlowDown status).
THROTTLING_STATUSES = frozenset({429, 503})
# Tencent Cloud API 3.0 answers (SCF's Invoke API) carry no HTTP error status: every error is
# HTTP 200 with ``Response.Error.Code``, a family and an optional detail after a dot
# (``RequestLimitExceeded.UinLimitExceeded``, ``InternalError.System``). The family decides:
# the throttling names above, and the service's own failure below (its 5xx), which a later
# attempt may not meet. AuthFailure, InvalidParameter, ResourceNotFound, UnauthorizedOperation,
# LimitExceeded (a quota) ... are not transient. Source: SCF's error code list (CN api 583/12113).
SERVER_ERROR_CODES = frozenset({"InternalError"})

# Response headers.
HEADER_REQUEST_ID = "x-ci-request-id"
HEADER_TRACE_ID = "x-ci-trace-id"
HEADER_SECURITY_TOKEN = "x-ci-security-token"
SERVER_NAME = "tencent-ci"

USER_AGENT = "ciqueue/0.1.0"
