"""Run one Lambda function's real code, from its built asset, and record what it does.

Started by the rehearsal as `python -m tools.rehearse.worker JOB.json OUT.json`, one process
per function (so the producer's and the topic resource's `handler` modules never meet).
For each environment it is a new container: the asset's modules are imported afresh, moto
starts empty, and `os.environ` is exactly the function's template environment (resolved
against the resources made in moto and the local broker) plus what the Lambda runtime sets.

Recorded, per invocation:
- every AWS API call, by botocore event hooks on the real clients (`before-parameter-build`:
  service, operation, parameters, the client's timeouts and retries; `request-created`: the host it
  would connect to; a request for a VPC endpoint's own DNS name is then handed to moto as
  if sent to the regional name);
- every TCP connection to the broker (Kafka on 9096 or 9098 in MSK), and every Kafka request
  with the topics and groups it names (`kafka_requests`), for the MSK IAM actions it needs;
- every environment variable read by the function's own code (not by its libraries), and
  whether it was read as required (`os.environ[...]`) or optional (`.get`, `in`).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from document_exceptions.names import (
    ACL_ENFORCEMENT_RESOURCE_TYPE,
    ACL_RESOURCE_TYPE,
    ENFORCEMENT_ALLOW_EVERYONE,
    ENFORCEMENT_CLUSTER_ARN,
    ENFORCEMENT_ENFORCED_ARN,
    ENFORCEMENT_ENFORCED_REVISION,
    ENFORCEMENT_OPEN_ARN,
    ENFORCEMENT_OPEN_REVISION,
    ENFORCEMENT_OPERATION_ARN,
    ENFORCEMENT_PHYSICAL_ID_SUFFIX,
    TOPIC_RESOURCE_TYPE,
)
from tools.rehearse.bundle import HostBuildFinder, own_top_level_names, purge_modules
from tools.rehearse.control_plane import CONTROL_PLANE
from tools.rehearse.kafka_requests import install_recorder
from tools.rehearse.template import Resolver, resources_of_type

RESOURCE_PARAMETERS = (
    "QueueUrl",
    "SecretId",
    "ClusterArn",
    "FunctionName",
    "EventBusName",
    "StackName",
)
# A second resource of the same IAM action: kafka:UpdateClusterConfiguration acts on the
# cluster and on the configuration it names (Service Authorization Reference).
NESTED_RESOURCE_PARAMETERS = (("ConfigurationInfo", "Arn"),)
LAMBDA_RUNTIME_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_LAMBDA_FUNCTION_NAME")
# Stand-in for Amazon's public CA, which MSK's certificates chain to: the local broker's
# private CA. Rehearsal only; listed apart in the report.
REHEARSAL_ONLY = ("KAFKA_SSL_CAFILE",)
LOCAL_REPLICATION_FACTOR = "1"
AUTH_MODE_VARIABLE = "KAFKA_AUTH_MODE"
SECRET_ARN_VARIABLE = "KAFKA_SECRET_ARN"  # noqa: S105 - a variable name
# A function set up for MSK IAM (KAFKA_AUTH_MODE=iam) signs in with AWS_MSK_IAM when the local
# broker speaks it (broker info "iam": its test credentials and region); otherwise it runs as
# SASL/SCRAM: rehearsal-only, its secret reads are marked and left out of the checks. Either
# way the IAM policy is checked against the Kafka requests the code sent.
IAM_AS_SCRAM_VARIABLES = (SECRET_ARN_VARIABLE, AUTH_MODE_VARIABLE)
ASYNC_FAILURE_BOOTSTRAP_VARIABLE = "PRODUCER_BOOTSTRAP_TIMEOUT_MS"


class Recorder:
    def __init__(self) -> None:
        self.invocation: list[dict[str, Any]] | None = None
        self.env_reads: dict[str, str] = {}
        self.own_files: tuple[str, ...] = ()
        self.broker_address: tuple[str, int] | None = None
        # Set while an IAM function runs as SASL/SCRAM: its secret reads are rehearsal-only.
        self.secret_reads_rehearsal_only = False

    def call(self, model: Any, params: dict[str, Any], context: Any = None, **_: Any) -> None:
        if self.invocation is None:
            return
        config = (context or {}).get("client_config")
        retries = dict(getattr(config, "retries", None) or {})
        self.invocation.append(
            {
                "kind": "aws",
                "service": model.service_model.service_name,
                "iam_prefix": model.service_model.signing_name,
                "endpoint_prefix": model.service_model.endpoint_prefix,
                "operation": model.name,
                "resource": next((str(params[p]) for p in RESOURCE_PARAMETERS if p in params), "*"),
                "extra_resources": [
                    str(params[outer][inner])
                    for outer, inner in NESTED_RESOURCE_PARAMETERS
                    if isinstance(params.get(outer), dict) and inner in params[outer]
                ],
                "connect_timeout": getattr(config, "connect_timeout", None),
                "read_timeout": getattr(config, "read_timeout", None),
                "retry_mode": retries.get("mode"),
                "total_max_attempts": retries.get("total_max_attempts"),
                "host": None,
                "rehearsal_only": self.secret_reads_rehearsal_only
                and model.service_model.signing_name == "secretsmanager",
            }
        )

    def kafka_request(self, request: dict[str, Any]) -> None:
        if self.invocation is not None:
            self.invocation.append({"kind": "kafka-request", **request})

    def request(self, request: Any, **_: Any) -> None:
        parts = urlsplit(request.url)
        host = parts.hostname or ""
        if self.invocation:
            self.invocation[-1]["host"] = host
        if ".vpce." in host:
            # vpce-<id>.<service>.<region>.vpce.amazonaws.com -> <service>.<region>.amazonaws.com
            service_host = host.split(".", 1)[1].replace(".vpce.", ".")
            request.url = urlunsplit(parts._replace(netloc=service_host))

    def connect(self, address: Any) -> None:
        if self.invocation is not None and tuple(address[:2]) == self.broker_address:
            self.invocation.append({"kind": "kafka", "address": f"{address[0]}:{address[1]}"})

    def environ_read(self, name: str, required: bool) -> None:
        frame = sys._getframe(2)
        while frame and _is_mapping_plumbing(frame.f_code.co_filename):
            frame = frame.f_back
        if frame and frame.f_code.co_filename.startswith(self.own_files):
            previous = self.env_reads.get(name)
            self.env_reads[name] = "required" if required or previous == "required" else "optional"


RECORDER = Recorder()


def _is_mapping_plumbing(filename: str) -> bool:
    """`os` and `_collections_abc` frames (frozen modules report `<frozen os>`)."""
    return filename.endswith(("os.py", "<frozen os>")) or "_collections_abc" in filename


def _install_environ_recorder() -> None:
    base = type(os.environ)

    class RecordingEnviron(base):  # type: ignore[misc, valid-type]
        def __getitem__(self, key: str) -> str:
            caller = sys._getframe(1).f_code.co_filename
            RECORDER.environ_read(key, required=not _is_mapping_plumbing(caller))
            return super().__getitem__(key)

        def __contains__(self, key: object) -> bool:
            RECORDER.environ_read(str(key), required=False)
            return super().__contains__(key)

    os.environ.__class__ = RecordingEnviron


def _install_socket_recorder() -> None:
    original_connect, original_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> Any:
        RECORDER.connect(address)
        return original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        RECORDER.connect(address)
        return original_connect_ex(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]


def _install_botocore_hooks() -> None:
    from botocore import handlers  # noqa: PLC0415

    handlers.BUILTIN_HANDLERS.append(("before-parameter-build", RECORDER.call))
    handlers.BUILTIN_HANDLERS.append(("request-created", RECORDER.request))
    # MSK and CloudFormation answers moto lacks, only while an ACL enforcement handler runs.
    handlers.BUILTIN_HANDLERS.append(("before-parameter-build", CONTROL_PLANE.parameters))
    handlers.BUILTIN_HANDLERS.append(("before-call", CONTROL_PLANE.before_call))


class Context:
    """What the Lambda runtime passes as `context`, with the function's real timeout."""

    def __init__(self, function_name: str, timeout_s: float) -> None:
        self.function_name = function_name
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = (
            f"arn:aws:lambda:eu-west-1:111111111111:function:{function_name}"
        )
        self.aws_request_id = "00000000-0000-0000-0000-000000000000"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _message(index: int, **changes: Any) -> dict[str, Any]:
    return {
        "order_req_id": f"SB{index:07d}",
        "s3_key": f"documents/user{index}/contract.pdf",
        "user_id": "sb.user2@drworkplace.microsoft.com",
        "exception_type": "access_denied",
        "error_message": "User does not have permission to access this document",
        "ip_address": "192.168.1.100",
        "access_type": "download",
        **changes,
    }


def _sqs_event(bodies: list[str]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m-{index}",
                "receiptHandle": f"handle-{index}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:111111111111:queue",
                "awsRegion": "eu-west-1",
            }
            for index, body in enumerate(bodies)
        ]
    }


def _eventbridge(detail: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "DocumentAccessException",
        "source": "django_s3_app",
        "account": "111111111111",
        "time": "2025-10-21T10:30:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": detail,
    }


INVALID = {"order_req_id": "SB1"}  # breaks the contract: required fields missing
OVERSIZED = json.dumps(_message(9, error_message="x" * 1_100_000))

Check = Callable[[Any, dict[str, int]], str | None]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _asynchronous_failure(
    job: dict[str, Any], environment: dict[str, Any], timeout_s: float
) -> dict[str, Any]:
    """An asynchronous invocation whose brokers are unreachable, in a new container: it must
    raise (Lambda retries it, then hands it to the on-failure destination). Rehearsal-only:
    the broker address points at a closed port and the bootstrap gives up after a second."""
    os.environ.update(
        {
            "KAFKA_BOOTSTRAP_BROKERS": f"127.0.0.1:{_closed_port()}",
            ASYNC_FAILURE_BOOTSTRAP_VARIABLE: "1000",
        }
    )
    purge_modules(job["asset_dir"])
    module_name, function_name = job["handler"].rsplit(".", 1)
    RECORDER.invocation = []
    event = {"messages": [_message(7), INVALID], "raise_on_failure": True}
    problem: str | None = "returned instead of raising"
    try:
        getattr(__import__(module_name), function_name)(
            event, Context(environment["function"], timeout_s)
        )
    except Exception:
        problem = None
    return {
        "scenario": "async, brokers unreachable",
        "calls": RECORDER.invocation,
        "problem": problem,
    }


def _producer_scenarios() -> list[tuple[str, Any, Check]]:
    def published(expected: int, rejected: int) -> Check:
        def check(result: Any, _: dict[str, int]) -> str | None:
            got = (result.get("published"), result.get("rejected"))
            return None if got == (expected, rejected) else f"published/rejected {got}"

        return check

    def no_batch_failures(result: Any, _: dict[str, int]) -> str | None:
        failures = result.get("batchItemFailures")
        return None if failures == [] else f"batchItemFailures {failures}"

    return [
        ("direct", {"messages": [_message(1), _message(2), INVALID]}, published(2, 1)),
        (
            "direct async, invalid parked",
            {"messages": [_message(3), INVALID], "raise_on_failure": True},
            published(1, 1),
        ),
        (
            "SQS valid+invalid+oversized",
            _sqs_event([json.dumps(_message(4)), json.dumps(_message(5)), "not json", OVERSIZED]),
            no_batch_failures,
        ),
        ("EventBridge valid", _eventbridge(_message(6)), published(1, 0)),
        ("EventBridge invalid, parked", _eventbridge(INVALID), published(0, 1)),
    ]


def _custom_resource_scenarios(
    resource_type: str, logical: str, properties: dict[str, Any]
) -> dict[str, tuple[str, Any, Check]]:
    """Create, Update (same properties) and Delete of one custom resource, as the Provider
    framework passes them on, by request type."""
    base = {
        "ServiceToken": "arn:aws:lambda:eu-west-1:111111111111:function:framework",
        "ResponseURL": "https://cloudformation-custom-resource-response.example/",
        "StackId": "arn:aws:cloudformation:eu-west-1:111111111111:stack/rehearsal/1",
        "RequestId": "rehearsal",
        "ResourceType": resource_type,
        "LogicalResourceId": logical,
        "ResourceProperties": properties,
    }
    label = resource_type.removeprefix("Custom::Kafka")

    def answered(result: Any, _: dict[str, int]) -> str | None:
        return (
            None if isinstance(result, dict) and result.get("PhysicalResourceId") else repr(result)
        )

    physical: dict[str, str] = {}

    def created(result: Any, state: dict[str, int]) -> str | None:
        problem = answered(result, state)
        if problem is None:
            physical["id"] = result["PhysicalResourceId"]
        return problem

    return {
        "Create": (f"{label} Create", {**base, "RequestType": "Create"}, created),
        "Update": (
            f"{label} Update",
            lambda: {
                **base,
                "RequestType": "Update",
                "PhysicalResourceId": physical.get("id", "unknown"),
                "OldResourceProperties": properties,
            },
            answered,
        ),
        "Delete": (
            f"{label} Delete",
            lambda: {
                **base,
                "RequestType": "Delete",
                "PhysicalResourceId": physical.get("id", "unknown"),
            },
            answered,
        ),
    }


def _enforcement_scenarios(kind: str, resolver: Resolver) -> list[tuple[str, Any, Check]]:
    """The ACL enforcement handlers against the control plane's cluster, which starts on the
    open configuration; each event sets the state its scenario needs."""
    resource = next(
        r for _, r in resources_of_type(resolver.template, ACL_ENFORCEMENT_RESOURCE_TYPE)
    )
    properties = {
        k: str(resolver.resolve(v))
        for k, v in resource["Properties"].items()
        if k != "ServiceToken"
    }
    open_configuration = (
        properties[ENFORCEMENT_OPEN_ARN],
        int(properties[ENFORCEMENT_OPEN_REVISION]),
    )
    enforced = (
        properties[ENFORCEMENT_ENFORCED_ARN],
        int(properties[ENFORCEMENT_ENFORCED_REVISION]),
    )
    cluster_arn = properties[ENFORCEMENT_CLUSTER_ARN]
    stack_id = str(resolver.ref("AWS::StackId"))
    base = {
        "ServiceToken": resolver.arn("lambda", "function:framework"),
        "ResponseURL": "https://cloudformation-custom-resource-response.example/",
        "StackId": stack_id,
        "RequestId": "rehearsal",
        "ResourceType": ACL_ENFORCEMENT_RESOURCE_TYPE,
        "LogicalResourceId": "AclEnforcement",
        "PhysicalResourceId": cluster_arn + ENFORCEMENT_PHYSICAL_ID_SUFFIX,
        "ResourceProperties": properties,
    }
    to_enforced = properties[ENFORCEMENT_ALLOW_EVERYONE] == "false"

    def event(
        request_type: str,
        configuration: tuple[str, int],
        stack_status: str = "UPDATE_IN_PROGRESS",
        operation: list[str] | None = None,
    ) -> Any:
        def build() -> dict[str, Any]:
            CONTROL_PLANE.reset(cluster_arn, stack_id, configuration)
            CONTROL_PLANE.stack_status = stack_status
            built: dict[str, Any] = {**base, "RequestType": request_type}
            if operation:
                built["Data"] = {ENFORCEMENT_OPERATION_ARN: CONTROL_PLANE.operation(operation)}
            return built

        return build

    def started(expected: bool) -> Check:
        def check(result: Any, _: dict[str, int]) -> str | None:
            if not isinstance(result, dict) or not result.get("PhysicalResourceId"):
                return repr(result)
            has_operation = bool(result.get("Data", {}).get(ENFORCEMENT_OPERATION_ARN))
            return None if has_operation == expected else f"operation started: {has_operation}"

        return check

    def complete(expected: bool) -> Check:
        def check(result: Any, _: dict[str, int]) -> str | None:
            return None if result == {"IsComplete": expected} else repr(result)

        return check

    def raised(result: Any, _: dict[str, int]) -> str | None:
        return None if isinstance(result, Exception) else f"returned {result!r} instead of raising"

    raised.accepts_errors = True  # type: ignore[attr-defined]
    if kind == "acl-on-event":
        return [
            ("Create, cluster open", event("Create", open_configuration), started(to_enforced)),
            ("Update, already applied", event("Update", enforced), started(not to_enforced)),
            ("Delete, stack updating", event("Delete", enforced), started(True)),
            (
                "Delete, stack deleted",
                event("Delete", enforced, stack_status="DELETE_IN_PROGRESS"),
                started(False),
            ),
        ]
    return [
        (
            "operation in progress",
            event("Create", enforced, operation=["UPDATE_IN_PROGRESS"]),
            complete(False),
        ),
        (
            "operation done",
            event("Create", enforced, operation=["UPDATE_COMPLETE"]),
            complete(True),
        ),
        ("operation failed", event("Create", enforced, operation=["UPDATE_FAILED"]), raised),
    ]


def _moto_resources(resolver: Resolver, broker: dict[str, Any]) -> dict[str, str]:
    """Make the template's queues and secret in moto; returns physical id -> logical id."""
    import boto3  # noqa: PLC0415

    physical: dict[str, str] = {}
    sqs = boto3.client("sqs", region_name=resolver.region)
    for logical, _ in resources_of_type(resolver.template, "AWS::SQS::Queue"):
        url = sqs.create_queue(QueueName=logical)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        resolver.overrides[(logical, "Ref")] = url
        physical[url] = physical[arn] = logical
    secrets = boto3.client("secretsmanager", region_name=resolver.region)
    for logical, resource in resources_of_type(resolver.template, "AWS::SecretsManager::Secret"):
        value = {"username": broker["username"], "password": broker["password"]}
        arn = secrets.create_secret(
            Name=resource["Properties"].get("Name", logical), SecretString=json.dumps(value)
        )["ARN"]
        resolver.overrides[(logical, "Ref")] = arn
        physical[arn] = logical
    for logical, _ in resources_of_type(resolver.template, "Custom::AWS"):
        for field in ("BootstrapBrokerStringSaslScram", "BootstrapBrokerStringSaslIam"):
            resolver.overrides[(logical, field)] = broker["bootstrap"]
    for logical, resource in resolver.resources.items():
        if resource["Type"] == TOPIC_RESOURCE_TYPE:
            for attribute in ("TopicName", "Partitions", "ReplicationFactor"):
                resolver.overrides[(logical, attribute)] = resource["Properties"][attribute]
            # The local broker is one node: Kafka (and the handler) refuse a larger factor.
            resource["Properties"]["ReplicationFactor"] = LOCAL_REPLICATION_FACTOR
    return physical


def _iam_credentials(resolver: Resolver, broker: dict[str, Any]) -> dict[str, str] | None:
    """The test credentials an AWS_MSK_IAM broker accepts, when it signs for this region."""
    iam = broker.get("iam")
    if not iam or iam["region"] != resolver.region:
        return None
    return {
        "AWS_ACCESS_KEY_ID": iam["access_key_id"],
        "AWS_SECRET_ACCESS_KEY": iam["secret_access_key"],
    }


def _iam_as_scram(
    resolver: Resolver, variables: dict[str, str], broker: dict[str, Any]
) -> str | None:
    """For a function set up for IAM on a broker without AWS_MSK_IAM: switch `variables` to
    SASL/SCRAM with the template's secret (made in moto) and return its ARN; else None."""
    if variables.get(AUTH_MODE_VARIABLE) != "iam" or _iam_credentials(resolver, broker):
        return None
    secret_arn = next(
        str(resolver.ref(logical))
        for logical, _ in resources_of_type(resolver.template, "AWS::SecretsManager::Secret")
    )
    variables.update({SECRET_ARN_VARIABLE: secret_arn, AUTH_MODE_VARIABLE: "scram"})
    return secret_arn


def _scenarios(
    kind: str, resolver: Resolver, secret_arn: str | None
) -> list[tuple[str, Any, Check]]:
    """The producer's events, or the events of each custom resource the on-event function
    serves in CloudFormation's order: the topic's Create and Update, then the ACLs' (created
    after the topic), the ACLs' Delete before the topic's."""
    if kind == "producer":
        return _producer_scenarios()
    if kind in ("acl-on-event", "acl-is-complete"):
        return _enforcement_scenarios(kind, resolver)
    topics, acls = {}, {}
    for resource_type, found in ((TOPIC_RESOURCE_TYPE, topics), (ACL_RESOURCE_TYPE, acls)):
        for logical, resource in resources_of_type(resolver.template, resource_type):
            properties = {
                k: resolver.resolve(v)
                for k, v in resource["Properties"].items()
                if k != "ServiceToken"
            }
            if secret_arn is not None and resource_type == TOPIC_RESOURCE_TYPE:
                properties["SecretArn"] = secret_arn  # an IAM topic resource run as SCRAM
            found.update(_custom_resource_scenarios(resource_type, logical, properties))
    if acls and secret_arn is not None:
        # The ACL resource signs in with IAM only: on a broker without AWS_MSK_IAM its
        # requests cannot be rehearsed (the rehearsal broker speaks it).
        acls = {}
    order = [
        (topics, "Create"),
        (topics, "Update"),
        (acls, "Create"),
        (acls, "Update"),
        (acls, "Delete"),
        (topics, "Delete"),
    ]
    return [scenarios[request] for scenarios, request in order if scenarios]


def _stand_in_native_topics(resolver: Resolver, broker: dict[str, Any]) -> None:
    """CloudFormation makes an `AWS::MSK::Topic` through MSK's API; on the local broker the
    rehearsal makes it (over IAM, not recorded: no function's request), so the producer has a
    topic to publish to."""
    names = [
        str(resolver.resolve(resource["Properties"]["TopicName"]))
        for _, resource in resources_of_type(resolver.template, "AWS::MSK::Topic")
    ]
    if not names or not _iam_credentials(resolver, broker):
        return
    from kafka import KafkaAdminClient  # noqa: PLC0415 - the asset's kafka-python
    from kafka.admin import NewTopic  # noqa: PLC0415
    from kafka.errors import TopicAlreadyExistsError  # noqa: PLC0415

    admin = KafkaAdminClient(
        bootstrap_servers=[broker["bootstrap"]],
        security_protocol="SASL_SSL",
        sasl_mechanism="AWS_MSK_IAM",
        ssl_cafile=broker["cafile"],
    )
    try:
        for name in names:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics([NewTopic(name, 1, int(LOCAL_REPLICATION_FACTOR))])
    finally:
        admin.close()


def _invoke(entry: Any, event: Any, context: Context, check: Check, state: dict[str, int]) -> Any:
    """One invocation's problem, or None: a raise is one too, unless the check expects it."""
    try:
        return check(entry(event() if callable(event) else event, context), state)
    except Exception as exc:  # an invocation that raised is an outcome, recorded
        if getattr(check, "accepts_errors", False):
            return check(exc, state)
        traceback.print_exc()
        return f"raised {type(exc).__name__}: {exc}"


def _run_environment(job: dict[str, Any], environment: dict[str, Any]) -> dict[str, Any]:
    from moto import mock_aws  # noqa: PLC0415

    template = json.loads(Path(environment["template"]).read_text())
    resolver = Resolver(
        template, environment["region"], environment["account"], environment["stack"]
    )
    function = template["Resources"][environment["function"]]["Properties"]
    timeout_s = float(function.get("Timeout", 3))
    broker = job["broker"]
    RECORDER.broker_address = (broker["host"], int(broker["port"]))
    result: dict[str, Any] = {"environment": environment["name"], "invocations": []}
    with mock_aws():
        physical = _moto_resources(resolver, broker)
        variables = {
            name: str(resolver.resolve(value))
            for name, value in function.get("Environment", {}).get("Variables", {}).items()
        }
        iam_function = variables.get(AUTH_MODE_VARIABLE) == "iam"
        runtime = {
            "AWS_REGION": environment["region"],
            "AWS_DEFAULT_REGION": environment["region"],
            "AWS_LAMBDA_FUNCTION_NAME": environment["function"],
            "AWS_ACCESS_KEY_ID": "rehearsal",
            "AWS_SECRET_ACCESS_KEY": "rehearsal",
            # An IAM function signs its Kafka login with the broker's test credentials.
            **((_iam_credentials(resolver, broker) or {}) if iam_function else {}),
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "LAMBDA_TASK_ROOT": job["asset_dir"],
            "_HANDLER": job["handler"],
        }
        secret_arn = _iam_as_scram(resolver, variables, broker)
        RECORDER.secret_reads_rehearsal_only = secret_arn is not None
        os.environ.clear()
        os.environ.update({**runtime, **variables, "KAFKA_SSL_CAFILE": broker["cafile"]})
        RECORDER.env_reads = {}
        purge_modules(job["asset_dir"])
        RECORDER.invocation = None
        if job["kind"] == "custom-resource" and iam_function:
            _stand_in_native_topics(resolver, broker)
        module_name, function_name = job["handler"].rsplit(".", 1)
        RECORDER.invocation = []
        try:
            entry = getattr(__import__(module_name), function_name)
            install_recorder(RECORDER.kafka_request)
            import_calls = RECORDER.invocation
        except Exception as exc:  # the import itself is a finding
            result["import_error"] = f"{type(exc).__name__}: {exc}"
            return result
        scenarios = _scenarios(job["kind"], resolver, secret_arn)
        state: dict[str, int] = {}
        for name, event, check in scenarios:
            RECORDER.invocation = list(import_calls)
            import_calls = []
            outcome = _invoke(
                entry, event, Context(environment["function"], timeout_s), check, state
            )
            result["invocations"].append(
                {"scenario": name, "calls": RECORDER.invocation, "problem": outcome}
            )
        if job["kind"] == "producer":
            result["invocations"].append(_asynchronous_failure(job, environment, timeout_s))
        RECORDER.invocation = None
        CONTROL_PLANE.active = False
    result["physical"] = physical
    result["variables"] = sorted(variables)
    result["rehearsal_only"] = [*REHEARSAL_ONLY, *(IAM_AS_SCRAM_VARIABLES if secret_arn else ())]
    result["iam_login"] = iam_function and secret_arn is None
    result["env_reads"] = dict(RECORDER.env_reads)
    return result


def main(job_file: str, output_file: str) -> None:
    job = json.loads(Path(job_file).read_text())
    asset = job["asset_dir"]
    finder = HostBuildFinder(Path(asset), [Path(p) for p in job["host_paths"]])
    sys.meta_path.insert(0, finder)
    sys.path[:0] = [asset]
    sys.path.extend(p for p in job["host_paths"] if p not in sys.path)
    own = own_top_level_names(Path(asset))
    RECORDER.own_files = tuple(str(Path(asset, name)) for name in own)
    _install_environ_recorder()
    _install_socket_recorder()
    _install_botocore_hooks()
    results = []
    for environment in job["environments"]:
        with contextlib.redirect_stdout(sys.stderr):
            results.append(_run_environment(job, environment))
    Path(output_file).write_text(
        json.dumps({"results": results, "substituted": finder.substituted}, indent=1)
    )


if __name__ == "__main__":
    main(*sys.argv[1:3])
