"""Names of environment variables, defaults and fixed values, in one place."""

from __future__ import annotations

# Credentials as SCF sets them for a function that has a role.
ENV_SECRET_ID = "TENCENTCLOUD_SECRETID"
ENV_SECRET_KEY = "TENCENTCLOUD_SECRETKEY"
ENV_SESSION_TOKEN = "TENCENTCLOUD_SESSIONTOKEN"
ENV_REGION = "TENCENTCLOUD_REGION"

# Our own settings.
ENV_ENDPOINT = "CIQUEUE_ENDPOINT"
ENV_LOG_LEVEL = "CIQUEUE_LOG_LEVEL"

# The documented demo key pair the emulator always accepts (never a real key).
DEMO_SECRET_ID = "AKIDciqueueDEMOdemoDEMOdemoDEMOdemo00"
DEMO_SECRET_KEY = "ciqueueDemoSecretKeyNotForProduction0"
DEMO_APPID = "1250000000"

# Signing.
SIGN_ALGORITHM = "sha1"
DEFAULT_SIGNATURE_LIFETIME_S = 600
# Clock skew the emulator tolerates before RequestTimeTooSkewed, as COS documents (15 minutes).
MAX_CLOCK_SKEW_S = 15 * 60

# Describe queues.
MAX_QUEUE_IDS_PER_REQUEST = 10
DEFAULT_PAGE_SIZE = 100

# Field rules (documented by CI).
MAX_QUEUE_NAME_LENGTH = 128
QUEUE_STATES = ("Active", "Paused")
NOTIFY_STATES = ("On", "Off")
NOTIFY_TYPES = ("Url", "TDMQ")
NOTIFY_EVENTS = ("TaskFinish", "WorkflowFinish")
RESULT_FORMATS = ("XML", "JSON")
MQ_MODES = ("Queue", "Topic")
MQ_REGIONS = ("sh", "bj", "gz", "cd", "hk")

# Response headers.
HEADER_REQUEST_ID = "x-ci-request-id"
HEADER_TRACE_ID = "x-ci-trace-id"
HEADER_SECURITY_TOKEN = "x-ci-security-token"
SERVER_NAME = "tencent-ci"

USER_AGENT = "ciqueue/0.1.0"
