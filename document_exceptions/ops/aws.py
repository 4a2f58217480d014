"""A deployed environment as the operator commands see it: its stack outputs and its secret.

The stack outputs are read with CloudFormation ``DescribeStacks``; ``target.py`` builds the
connection from them: the SASL/SCRAM broker string from the outputs, the username and
password from the secret.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from document_exceptions.names import KAFKA_AUTH_IAM, KAFKA_AUTH_SCRAM, KAFKA_AUTH_VARIABLE
from document_exceptions.ops.errors import OpsError, error_text

ClientFactory = Callable[[str], Any]

# Output names, as the stacks define them (stacks/document_exceptions_stack.py,
# stacks/producer_function.py). Stacks deployed before the producer's outputs had fixed
# names carry CDK logical ids such as `ProducerQueueUrl1A2B3C4D`: see StackOutputs.get.
SECRET_ARN_OUTPUT = "ScramSecretArn"  # noqa: S105 - an output name, not a secret
BROKERS_OUTPUT = "BootstrapBrokersSaslScram"
# With MSK IAM access control: the IAM (9098) broker string, and how the stack's own
# clients authenticate ("iam" or "scram"; absent from stacks deployed before IAM).
IAM_BROKERS_OUTPUT = "BootstrapBrokersSaslIam"
AUTH_MODE_OUTPUT = "KafkaAuthMode"
QUEUE_URL_OUTPUT = "ProducerQueueUrl"
TOPIC_NAME_OUTPUT = "TopicName"
TOPIC_PARTITIONS_OUTPUT = "TopicPartitions"

AWS_CONNECT_TIMEOUT_S = 5
AWS_READ_TIMEOUT_S = 10
AWS_MAX_ATTEMPTS = 3
# The AWS CLI and SDKs read AWS_REGION before AWS_DEFAULT_REGION; boto3 reads only the latter.
REGION_VARIABLE = "AWS_REGION"
NO_REGION = "no AWS region: pass --region or set AWS_REGION"


def boto3_client_factory(
    region: str | None = None,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> ClientFactory:
    """Clients that give up after a few seconds instead of botocore's minute-long defaults.

    The region is ``region``, else AWS_REGION, else boto3's (AWS_DEFAULT_REGION, the
    profile); with none of them this raises OpsError at once, before any client exists."""
    import boto3  # noqa: PLC0415 - only commands that talk to AWS need boto3
    from botocore.config import Config  # noqa: PLC0415

    environ = os.environ if environ is None else environ
    session = boto3.Session(
        profile_name=profile, region_name=region or environ.get(REGION_VARIABLE) or None
    )
    if not session.region_name:
        raise OpsError(NO_REGION)
    config = Config(
        connect_timeout=AWS_CONNECT_TIMEOUT_S,
        read_timeout=AWS_READ_TIMEOUT_S,
        retries={"total_max_attempts": AWS_MAX_ATTEMPTS, "mode": "standard"},
    )

    def make(service: str) -> Any:
        return session.client(service, config=config)

    return make


def aws_error_text(exc: BaseException) -> str:
    """``Code: message`` of a botocore ClientError (the service's error code, which the
    permission and troubleshooting guides use), or the exception's own text."""
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        error = response.get("Error", {})
        code, message = error.get("Code"), error.get("Message")
        if code:
            return f"{code}: {message}" if message else str(code)
    return error_text(exc)


@dataclass(frozen=True)
class StackOutputs:
    """The outputs of one CloudFormation stack, by output key."""

    stack_name: str
    values: Mapping[str, str]
    status: str = ""

    @classmethod
    def load(cls, cloudformation: Any, stack_name: str) -> StackOutputs:
        try:
            response = cloudformation.describe_stacks(StackName=stack_name)
        except Exception as exc:
            raise OpsError(
                f"cannot read stack {stack_name}: {aws_error_text(exc)}",
                "the stack name and --region, and that your credentials may call "
                "cloudformation:DescribeStacks",
            ) from None
        stacks = response.get("Stacks") or []
        if not stacks:
            raise OpsError(f"stack {stack_name} not found", "the stack name and --region")
        stack = stacks[0]
        values = {
            output["OutputKey"]: output.get("OutputValue", "")
            for output in stack.get("Outputs") or []
        }
        return cls(stack_name, values, stack.get("StackStatus", ""))

    def get(self, name: str) -> str | None:
        """The output `name`, also when CDK prefixed it with its construct path and suffixed
        a hash (`ProducerQueueUrl1A2B3C4D`); of several such, the shortest key wins (so
        `QueueUrl` finds `ProducerQueueUrl…`, not `ProducerRejectedQueueUrl…`)."""
        if name in self.values:
            return self.values[name]
        pattern = re.compile(rf"^[A-Za-z0-9]*{re.escape(name)}[0-9A-F]{{8}}$")
        candidates = sorted((key for key in self.values if pattern.match(key)), key=len)
        if not candidates:
            return None
        if len(candidates) > 1 and len(candidates[0]) == len(candidates[1]):
            raise OpsError(
                f"stack {self.stack_name} has several outputs named like {name}: "
                + ", ".join(candidates),
                "pass the value with the command's flag instead",
            )
        return self.values[candidates[0]]

    def require(self, name: str, flag: str | None = None) -> str:
        value = self.get(name)
        if not value:
            where = f" (or pass {flag})" if flag else ""
            raise OpsError(
                f"stack {self.stack_name} has no output {name}{where}",
                "that the stack is deployed from this version of the repository "
                f"(outputs: {', '.join(sorted(self.values)) or 'none'})",
            )
        return value


def stack_auth_mode(
    outputs: StackOutputs, requested: str | None, environ: Mapping[str, str] | None = None
) -> str:
    """How to sign in to a stack's brokers: ``--auth``, else ``KAFKA_AUTH_MODE``, else the
    stack's ``KafkaAuthMode`` output, else "scram" (stacks deployed before IAM)."""
    environ = os.environ if environ is None else environ
    for source, value in (
        ("--auth", requested),
        (KAFKA_AUTH_VARIABLE, environ.get(KAFKA_AUTH_VARIABLE)),
        (f"stack output {AUTH_MODE_OUTPUT}", outputs.get(AUTH_MODE_OUTPUT)),
    ):
        if value:
            mode = value.strip().lower()
            if mode not in (KAFKA_AUTH_IAM, KAFKA_AUTH_SCRAM):
                raise OpsError(
                    f"{source}: {value!r} is not one of {KAFKA_AUTH_IAM}, {KAFKA_AUTH_SCRAM}"
                )
            return mode
    return KAFKA_AUTH_SCRAM


def share_region_with_kafka_signer(
    region: str | None, profile: str | None, environ: MutableMapping[str, str]
) -> None:
    """Hand ``--region`` and ``--profile`` to kafka-python's AWS_MSK_IAM signer, which builds
    its own botocore session from the environment (AWS_DEFAULT_REGION, AWS_PROFILE) and would
    otherwise sign for no region, or with another profile's credentials."""
    region = region or environ.get(REGION_VARIABLE)
    if region:
        environ["AWS_DEFAULT_REGION"] = region
    if profile:
        environ["AWS_PROFILE"] = profile
