"""Names and settings shared by the CDK constructs (what the topology does not decide)."""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs

from pshub_infra.topology import BASE_FUNCTION_ENVIRONMENT, REPO_ROOT, SERVICE_NAME

STACK_NAME = "pshub"
STAGE_CONTEXT = "stage"  # `cdk synth -c stage=dev`: the stage in every name and output


def stack_name(stage: str = "") -> str:
    """``pshub``, or ``pshub-<stage>`` for a stage (several stages deploy into one account)."""
    return f"{STACK_NAME}-{stage}" if stage else STACK_NAME


# Every resource carries this tag so costs and resources can be told apart per service.
SERVICE_TAG = ("service", SERVICE_NAME)

# Lambda platform: the dependencies layer is built for exactly this pair.
# The Python the tests run on (what ships is what was tested; a test checks they agree).
LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_11
LAMBDA_ARCHITECTURE = lambda_.Architecture.ARM_64
PYTHON_VERSION = "3.11"
PIP_PLATFORM = "manylinux2014_aarch64"

DEPENDENCIES_LAYER_DIR = REPO_ROOT / "layers" / "dependencies"
DEPENDENCIES_REQUIREMENTS = "requirements.txt"
COMMON_LAYER_DIR = REPO_ROOT / "layers" / "common"
COMMON_PACKAGE = "pshub"

# Kept out of asset fingerprints and copies: interpreter caches differ per machine.
ASSET_EXCLUDES = ("**/__pycache__", "**/*.pyc", ".pytest_cache", ".mypy_cache")

# Observability settings every function receives.
LOG_LEVEL = "INFO"
POWERTOOLS_ENVIRONMENT = BASE_FUNCTION_ENVIRONMENT
CONNECTIONS_ENV_VAR = "PSHUB_CONNECTIONS"

FUNCTION_LOG_RETENTION = logs.RetentionDays.ONE_MONTH
EVENT_LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
API_ACCESS_LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
# Execution history with data: a provisioning question is asked within a quarter.
STATE_MACHINE_LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
# S3 server access logs are for incident forensics; a year covers an audit cycle.
ACCESS_LOG_BUCKET_EXPIRE_DAYS = 365

# Webhook traffic is bursty (vendors retry in batches) but small; these caps protect
# the account's Lambda concurrency from a misbehaving sender.
API_THROTTLE_RATE_LIMIT = 200
API_THROTTLE_BURST_LIMIT = 400

# Length of the generated placeholder in each connection secret (replaced by operators).
PLACEHOLDER_SECRET_LENGTH = 64
# The one field of a generated API credentials placeholder ({"placeholder": "<random>"}):
# the whole object is replaced by the platform's credential fields.
API_PLACEHOLDER_KEY = "placeholder"
