"""Check a deployed environment end to end, one step at a time, saying what to check.

Checks (a check whose prerequisite failed is skipped):

1. the stack's outputs can be read (or, locally, the KAFKA_* settings are valid);
2. the SCRAM secret can be read and holds a username and password (not with IAM: the
   stack's ``KafkaAuthMode`` output, ``KAFKA_AUTH_MODE`` or ``--auth`` say which);
3. every broker name of the SASL/SCRAM (or IAM) broker string resolves (DNS);
4. the brokers accept a connection as configured (a real one): TLS and the SASL/SCRAM or
   AWS_MSK_IAM login for a stack; locally whatever the KAFKA_* settings say, and the
   check's name says which;
5. the topic exists with the configured number of partitions.

Hints point where the setting comes from: the stack and its custom resource for a
deployed environment, the KAFKA_* settings and the broker's own tools for a local one.

Every step is bounded: AWS calls by the clients' timeouts, DNS and Kafka by ``timeout_s``.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import kafka.errors as kafka_errors
from kafka.admin import KafkaAdminClient

from document_exceptions.connection import (
    ConfigurationError,
    KafkaConnection,
    from_environment,
    msk_iam_connection,
    msk_scram_connection,
    parse_broker_string,
    read_scram_secret,
)
from document_exceptions.contract import DEFAULT_SETTINGS
from document_exceptions.names import KAFKA_AUTH_IAM
from document_exceptions.ops.aws import (
    BROKERS_OUTPUT,
    IAM_BROKERS_OUTPUT,
    SECRET_ARN_OUTPUT,
    TOPIC_NAME_OUTPUT,
    TOPIC_PARTITIONS_OUTPUT,
    ClientFactory,
    StackOutputs,
    aws_error_text,
    stack_auth_mode,
)
from document_exceptions.ops.errors import OpsError, error_text
from document_exceptions.ops.kafka_clients import (
    BrokerConnectionError,
    close_quietly,
    open_client,
)
from document_exceptions.ops.target import (
    DEFAULT_PARTITIONS,
    NO_CONNECTION_HINT,
    TOPIC_VARIABLE,
    missing_topic_error,
)

Status = Literal["ok", "failed", "skipped"]
STACK_CHECK = "stack outputs"
LOCAL_CHECK = "local settings"
SECRET_CHECK = "secret readable"  # noqa: S105 - a check name, not a secret
DNS_CHECK = "brokers resolve (DNS)"
# A stack's connection is always MSK's SASL/SCRAM listener (connection.msk_scram_connection).
LOGIN_CHECK = "brokers accept the login (TLS + SASL/SCRAM)"
IAM_LOGIN_CHECK = "brokers accept the login (TLS + SASL/AWS_MSK_IAM)"
CONNECT_CHECK = "brokers accept a connection"
DEPLOYED_DNS_HINT = (
    "the broker string is current (it changes when the cluster is replaced) and this "
    "machine uses the VPC's DNS (MSK broker names resolve inside the VPC)"
)
LOCAL_DNS_HINT = (
    "the host names in KAFKA_BOOTSTRAP_SERVERS (or --config) are right and resolve from "
    "this machine"
)


def login_check_name(connection: KafkaConnection | None) -> str:
    """The connection check's name, saying what the connection really uses."""
    if connection is None:
        return CONNECT_CHECK
    tls = connection.security_protocol in ("SSL", "SASL_SSL")
    mechanism = connection.sasl_mechanism or ""
    if connection.security_protocol.startswith("SASL_"):
        family = "SCRAM" if mechanism.startswith("SCRAM-") else mechanism
        how = f"TLS + SASL/{family}" if tls else f"SASL/{family}, no TLS"
        return f"brokers accept the login ({how})"
    if tls:
        return f"{CONNECT_CHECK} (TLS, no login)"
    return f"{CONNECT_CHECK} ({connection.security_protocol}: no TLS, no login)"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.name, "status": self.status, "detail": self.detail, "hint": self.hint}


@dataclass(frozen=True)
class DoctorOptions:
    stack: str | None = None
    topic: str | None = None
    partitions: int | None = None
    cafile: str | None = None
    config_file: str | None = None
    timeout_s: float = 10.0
    auth: str | None = None


class _Failed(Exception):  # noqa: N818 - a step's failure, turned into a Check
    def __init__(self, detail: str, hint: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.hint = hint


class Doctor:
    """Runs the checks in order; a check whose prerequisite failed is skipped."""

    def __init__(
        self,
        options: DoctorOptions,
        client_factory: ClientFactory | None = None,
        environ: Mapping[str, str] | None = None,
        on_check: Callable[[Check], None] | None = None,
    ) -> None:
        self.options = options
        self.deployed = options.stack is not None
        self.client_factory = client_factory
        self.environ = environ
        self.on_check = on_check
        self.checks: list[Check] = []
        self.signed_in_with_iam = False

    @property
    def healthy(self) -> bool:
        return all(check.status == "ok" for check in self.checks)

    def _step(
        self, name: str, run: Callable[[], tuple[str, Any]], needs: tuple[str, ...] = ()
    ) -> Any:
        """Run one check; returns its value, or None when it failed or was skipped."""
        status = {check.name: check.status for check in self.checks}
        missing = [need for need in needs if status.get(need) != "ok"]
        if missing:
            self._record(Check(name, "skipped", f"needs: {', '.join(missing)}"))
            return None
        try:
            detail, value = run()
        except _Failed as failed:
            self._record(Check(name, "failed", failed.detail, failed.hint))
        except OpsError as exc:
            self._record(Check(name, "failed", exc.message, exc.hint))
        else:
            self._record(Check(name, "ok", detail))
            return value
        return None

    def _record(self, check: Check) -> None:
        self.checks.append(check)
        if self.on_check is not None:
            self.on_check(check)

    def run(self) -> list[Check]:
        options = self.options
        if options.stack is not None:
            outputs, iam = self._step(STACK_CHECK, self._read_outputs) or (None, False)
            if iam:
                secret = None
                login_needs: tuple[str, ...] = (DNS_CHECK,)
                login_name = IAM_LOGIN_CHECK
            else:
                secret = self._step(
                    SECRET_CHECK, lambda: self._read_secret(outputs), (STACK_CHECK,)
                )
                login_needs = (SECRET_CHECK, DNS_CHECK)
                login_name = LOGIN_CHECK
            brokers = self._step(
                DNS_CHECK, lambda: self._resolve(self._stack_brokers(outputs, iam)), (STACK_CHECK,)
            )
            topic = options.topic or (outputs.get(TOPIC_NAME_OUTPUT) if outputs else None)
            partitions = options.partitions or _int(
                outputs.get(TOPIC_PARTITIONS_OUTPUT) if outputs else None
            )
            connection = None
            if iam and brokers is not None:
                connection = msk_iam_connection(brokers, options.cafile)
            elif secret is not None and brokers is not None:
                username, password = secret
                connection = msk_scram_connection(brokers, username, password, options.cafile)
        else:
            connection = self._step(LOCAL_CHECK, self._local_connection)
            self._step(
                DNS_CHECK,
                lambda: self._resolve(connection.bootstrap_servers),  # type: ignore[union-attr]
                (LOCAL_CHECK,),
            )
            login_needs = (LOCAL_CHECK, DNS_CHECK)
            login_name = login_check_name(connection)
            topic = options.topic or (self.environ or {}).get(TOPIC_VARIABLE)
            partitions = options.partitions
        topic = topic or DEFAULT_SETTINGS.topic
        partitions = partitions or DEFAULT_PARTITIONS
        admin = self._step(login_name, lambda: self._login(connection), login_needs)
        try:
            self._step(
                f"topic {topic}", lambda: self._topic(admin, topic, partitions), (login_name,)
            )
        finally:
            if admin is not None:
                close_quietly(admin)
        return self.checks

    # --- the checks -----------------------------------------------------------------------

    def _read_outputs(self) -> tuple[str, tuple[StackOutputs, bool]]:
        """The outputs, and whether to sign in with IAM (then no secret is needed)."""
        if self.client_factory is None:
            raise _Failed("no AWS access", "boto3 is installed")
        outputs = StackOutputs.load(self.client_factory("cloudformation"), self.options.stack or "")
        iam = stack_auth_mode(outputs, self.options.auth, self.environ) == KAFKA_AUTH_IAM
        for name in (IAM_BROKERS_OUTPUT,) if iam else (SECRET_ARN_OUTPUT, BROKERS_OUTPUT):
            outputs.require(name)
        status = f"{outputs.status}, " if outputs.status else ""
        auth = "IAM" if iam else "SASL/SCRAM"
        detail = f"{outputs.stack_name}: {status}{len(outputs.values)} outputs, {auth}"
        return detail, (outputs, iam)

    def _read_secret(self, outputs: StackOutputs) -> tuple[str, tuple[str, str]]:
        assert self.client_factory is not None
        arn = outputs.require(SECRET_ARN_OUTPUT)
        try:
            username, password = read_scram_secret(arn, self.client_factory("secretsmanager"))
        except ConfigurationError as exc:
            raise _Failed(
                f"secret {arn} is not usable: {exc}",
                "the secret's value is JSON with 'username' and 'password' (MSK's SCRAM format)",
            ) from None
        except Exception as exc:
            raise _Failed(
                f"cannot read secret {arn}: {aws_error_text(exc)}",
                "your credentials may call secretsmanager:GetSecretValue on the secret and "
                "kms:Decrypt on its customer-managed key",
            ) from None
        return f"{arn} (username {username!r})", (username, password)

    def _stack_brokers(self, outputs: StackOutputs, iam: bool) -> tuple[str, ...]:
        output = IAM_BROKERS_OUTPUT if iam else BROKERS_OUTPUT
        raw = outputs.require(output)
        try:
            brokers = parse_broker_string(raw)
        except ConfigurationError as exc:
            raise _Failed(
                f"output {output}: {exc}",
                f"the cluster has {'IAM' if iam else 'SASL/SCRAM'} enabled and the stack "
                "finished deploying",
            ) from None
        return brokers

    def _local_connection(self) -> tuple[str, KafkaConnection]:
        environ = dict(self.environ or {})
        if self.options.cafile:
            environ["KAFKA_SSL_CAFILE"] = self.options.cafile
        try:
            connection = from_environment(environ, self.options.config_file)
        except ConfigurationError as exc:
            raise _Failed(str(exc), NO_CONNECTION_HINT) from None
        if connection is None:
            raise _Failed("no Kafka connection settings", NO_CONNECTION_HINT)
        return connection.describe(), connection

    def _resolve(self, servers: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
        found: list[str] = []
        for server in servers:
            host, _, port = server.rpartition(":")
            addresses = resolve_host(
                host.strip("[]"),
                int(port),
                self.options.timeout_s,
                DEPLOYED_DNS_HINT if self.deployed else LOCAL_DNS_HINT,
            )
            found.append(f"{host} -> {', '.join(addresses)}")
        return "; ".join(found), servers

    def _login(self, connection: KafkaConnection | None) -> tuple[str, KafkaAdminClient]:
        assert connection is not None
        self.signed_in_with_iam = connection.uses_iam
        try:
            admin = open_client(KafkaAdminClient, connection, timeout_s=self.options.timeout_s)
        except BrokerConnectionError as exc:
            raise _Failed(exc.message, exc.hint) from None
        except ConfigurationError as exc:  # the IAM signer's region or credentials
            raise _Failed(str(exc), "--region, --profile or the AWS_* variables") from None
        if connection.uses_iam:
            auth = f"{connection.sasl_mechanism} with your AWS credentials"
        elif connection.sasl_mechanism:
            auth = f"{connection.sasl_mechanism} as {connection.sasl_username!r}"
        else:
            auth = "no login"
        return f"{connection.security_protocol}, {auth}", admin

    def _topic(self, admin: KafkaAdminClient, topic: str, partitions: int) -> tuple[str, None]:
        try:
            described = admin.describe_topics([topic])
        except kafka_errors.KafkaError as exc:
            user = "the SCRAM user" if self.deployed else "the KAFKA_SASL_USERNAME user, if any,"
            if self.signed_in_with_iam:
                user = "your IAM identity (kafka-cluster:DescribeTopic on the topic's ARN)"
            raise _Failed(
                f"cannot describe topic {topic}: {error_text(exc)}",
                f"{user} may describe topics (ACLs, if any are set on the cluster)",
            ) from None
        info = next((item for item in described if item.get("name") == topic), None)
        error = kafka_errors.for_code(info["error_code"]) if info else None
        if info is None or error is kafka_errors.UnknownTopicOrPartitionError:
            raise missing_topic_error(topic, deployed=self.deployed)
        if error is not kafka_errors.NoError:
            problem = error.description or f"broker error code {info['error_code']}"
            raise _Failed(f"topic {topic}: {problem}", "the topic's ACLs and the brokers")
        found = len(info["partitions"])
        replicas = max((len(p["replica_nodes"]) for p in info["partitions"]), default=0)
        under = sum(1 for p in info["partitions"] if len(p["isr_nodes"]) < len(p["replica_nodes"]))
        if found != partitions:
            hint = (
                "the topic bootstrap's last update (partitions can only grow) and --partitions"
                if self.deployed
                else f"--partitions (default {DEFAULT_PARTITIONS}); partitions can only grow: "
                f"kafka-topics.sh --alter --topic {topic} --partitions N, or delete and "
                "create the topic"
            )
            raise _Failed(
                f"topic {topic} has {found} partitions, the configuration says {partitions}",
                hint,
            )
        detail = f"{found} partitions, replication factor {replicas}"
        if under:
            detail += f", {under} under-replicated"
        return detail, None


def resolve_host(host: str, port: int, timeout_s: float, hint: str) -> list[str]:
    """The host's addresses, or _Failed with ``hint``; getaddrinfo has no timeout, so it
    runs in a thread."""
    result: dict[str, Any] = {}

    def lookup() -> None:
        try:
            result["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            result["error"] = exc

    worker = threading.Thread(target=lookup, name=f"resolve-{host}", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise _Failed(f"{host}: no DNS answer within {timeout_s:g} s", hint)
    if "error" in result:
        raise _Failed(f"{host} does not resolve: {result['error']}", hint)
    return sorted({info[4][0] for info in result["infos"]})


def _int(raw: str | None) -> int | None:
    try:
        return int(raw) if raw else None
    except ValueError:
        return None
