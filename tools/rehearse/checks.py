"""The rehearsal's checks of one function in one environment, against its template.

Each check returns the lines for the table and the gaps (a gap fails `make rehearse`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stacks.config import SCRAM_PORT
from stacks.vpc_function import ENI_ACTIONS
from tools.rehearse import iam
from tools.rehearse.template import Resolver, referenced_logical_id, resources_of_type

HTTPS_PORT = 443
# Interface endpoint service per API endpoint prefix (the MSK API's is not com.amazonaws.*).
ENDPOINT_SERVICE = {"kafka": "aws.api.{region}.kafka-api"}
# IAM action of an API operation where it differs from the operation's name.
ACTION_OF_OPERATION = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}
# What the service itself does with the resource's KMS key on the caller's behalf.
KMS_ACTIONS = {
    "sqs:SendMessage": ("kms:GenerateDataKey", "kms:Decrypt"),
    "sqs:ReceiveMessage": ("kms:Decrypt",),
    "secretsmanager:GetSecretValue": ("kms:Decrypt",),
}
KEY_PROPERTY = {"AWS::SQS::Queue": "KmsMasterKeyId", "AWS::SecretsManager::Secret": "KmsKeyId"}
# botocore's standard/legacy retry back-off never sleeps longer than this between attempts.
MAX_BACKOFF_S = 20.0
DEFAULT_ATTEMPTS = {"standard": 3, "legacy": 5, "adaptive": 3}


@dataclass(frozen=True)
class Call:
    """One AWS API call a function makes (recorded) or causes (derived from the template)."""

    service: str  # IAM prefix: sqs, secretsmanager, kafka, lambda, logs, ec2
    operation: str
    resource: str  # an ARN in the template's terms, or "*"
    logical_id: str | None = None
    origin: str = "recorded"  # recorded | template (CDK code) | platform (the Lambda service)
    endpoint_prefix: str | None = None
    host: str | None = None
    timing: Mapping[str, Any] | None = None

    @property
    def action(self) -> str:
        action = f"{self.service}:{self.operation}"
        return ACTION_OF_OPERATION.get(action, action)

    def label(self) -> str:
        where = self.logical_id or self.resource.rsplit(":", 1)[-1]
        suffix = {"template": " [template]", "platform": " [Lambda service]"}.get(self.origin, "")
        return f"{self.service} {self.operation} {where}{suffix}"


@dataclass
class Outcome:
    lines: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [*self.gaps, *self.lines] if self.gaps else self.lines
        return "; ".join(parts) if parts else "ok"


# --- network ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    group: str
    direction: str  # ingress | egress
    protocol: str
    from_port: int
    to_port: int
    peer_group: str | None
    cidr: str | None

    def admits(self, port: int) -> bool:
        if self.protocol in ("-1", "all"):
            return True
        return self.protocol in ("tcp", "6") and self.from_port <= port <= self.to_port


def security_group_rules(resolver: Resolver) -> list[Rule]:
    rules = []

    def add(group: str, direction: str, spec: Mapping[str, Any]) -> None:
        spec = resolver.resolve(dict(spec))
        peer = spec.get("SourceSecurityGroupId") or spec.get("DestinationSecurityGroupId")
        rules.append(
            Rule(
                group=group,
                direction=direction,
                protocol=str(spec.get("IpProtocol", "-1")),
                from_port=int(spec.get("FromPort", -1)),
                to_port=int(spec.get("ToPort", -1)),
                peer_group=peer,
                cidr=spec.get("CidrIp"),
            )
        )

    for logical, resource in resources_of_type(resolver.template, "AWS::EC2::SecurityGroup"):
        group = resolver.attribute(logical, "GroupId")
        properties = resource.get("Properties", {})
        for spec in properties.get("SecurityGroupIngress", []):
            add(group, "ingress", spec)
        for spec in properties.get("SecurityGroupEgress", []):
            add(group, "egress", spec)
    for kind, direction in (
        ("AWS::EC2::SecurityGroupIngress", "ingress"),
        ("AWS::EC2::SecurityGroupEgress", "egress"),
    ):
        for _, resource in resources_of_type(resolver.template, kind):
            properties = resource["Properties"]
            add(str(resolver.resolve(properties["GroupId"])), direction, properties)
    return rules


def _in_cidr(cidr: str | None, anywhere_only: bool) -> bool:
    if cidr is None:
        return False
    return ipaddress.ip_network(cidr).prefixlen == 0 if anywhere_only else True


def tcp_path(rules: Sequence[Rule], source: str, target: str, port: int) -> bool:
    """Does `source` SG allow out to `target` SG on `port`, and `target` allow it in?"""
    out = any(
        r.group == source and r.direction == "egress" and r.admits(port) and r.peer_group == target
        for r in rules
    )
    inbound = any(
        r.group == target and r.direction == "ingress" and r.admits(port) and r.peer_group == source
        for r in rules
    )
    return out and inbound


def egress_anywhere(rules: Sequence[Rule], source: str, port: int) -> bool:
    return any(
        r.group == source and r.direction == "egress" and r.admits(port) and _in_cidr(r.cidr, True)
        for r in rules
    )


def nat_route(resolver: Resolver, subnet_ids: Iterable[str]) -> bool:
    """Every subnet of the function routes 0.0.0.0/0 to a NAT gateway (in this template)."""
    tables: dict[str, str] = {}
    for _, resource in resources_of_type(
        resolver.template, "AWS::EC2::SubnetRouteTableAssociation"
    ):
        properties = resolver.resolve(resource["Properties"])
        tables[properties["SubnetId"]] = properties["RouteTableId"]
    nat_tables = {
        resolver.resolve(r["Properties"]["RouteTableId"])
        for _, r in resources_of_type(resolver.template, "AWS::EC2::Route")
        if r["Properties"].get("DestinationCidrBlock") == "0.0.0.0/0"
        and "NatGatewayId" in r["Properties"]
    }
    subnets = list(subnet_ids)
    return bool(subnets) and all(tables.get(s) in nat_tables for s in subnets)


def endpoint_service_name(prefix: str, region: str) -> str:
    return ENDPOINT_SERVICE.get(prefix, "com.amazonaws.{region}." + prefix).format(region=region)


def check_network(
    resolver: Resolver,
    function: Mapping[str, Any],
    calls: Sequence[Call],
    kafka: bool,
    kafka_port: int = SCRAM_PORT,
) -> Outcome:
    """Each called AWS service reachable (endpoint or NAT), and, when the function talks to
    Kafka, `kafka_port` (9098 for IAM, 9096 for SASL/SCRAM) open to the cluster's group."""
    outcome = Outcome()
    vpc_config = function.get("VpcConfig")
    runtime_calls = [c for c in calls if c.origin != "platform"]
    if not vpc_config:
        outcome.lines.append("outside a VPC: public endpoints")
        return outcome
    groups = [str(g) for g in resolver.resolve(vpc_config.get("SecurityGroupIds", []))]
    subnets = [str(s) for s in resolver.resolve(vpc_config.get("SubnetIds", []))]
    rules = security_group_rules(resolver)
    endpoints = []
    for logical, resource in resources_of_type(resolver.template, "AWS::EC2::VPCEndpoint"):
        properties = resource["Properties"]
        if properties.get("VpcEndpointType") != "Interface":
            continue
        dns = resolver.attribute(logical, "DnsEntries")[0].split(":", 1)[1]
        endpoints.append(
            {
                "logical": logical,
                "service": resolver.resolve(properties["ServiceName"]),
                "private_dns": bool(properties.get("PrivateDnsEnabled")),
                "groups": [
                    str(g) for g in resolver.resolve(properties.get("SecurityGroupIds", []))
                ],
                "host": dns,
            }
        )
    for service in sorted(
        {(c.endpoint_prefix or c.service) for c in runtime_calls if c.service != "kafka-cluster"}
    ):
        host_calls = [c for c in runtime_calls if (c.endpoint_prefix or c.service) == service]
        hosts = {c.host for c in host_calls if c.host}
        wanted = endpoint_service_name(service, resolver.region)
        candidates = [e for e in endpoints if e["service"] == wanted]
        usable = [
            e
            for e in candidates
            if all((h == e["host"]) or (e["private_dns"] and ".vpce." not in h) for h in hosts)
        ]
        reachable = [
            e
            for e in usable
            if any(tcp_path(rules, g, eg, HTTPS_PORT) for g in groups for eg in e["groups"])
        ]
        if reachable:
            how = (
                "private DNS"
                if reachable[0]["private_dns"] and not any(".vpce." in h for h in hosts)
                else "endpoint URL"
            )
            outcome.lines.append(f"{service}: endpoint {reachable[0]['logical']} ({how})")
        elif nat_route(resolver, subnets) and any(
            egress_anywhere(rules, g, HTTPS_PORT) for g in groups
        ):
            outcome.lines.append(f"{service}: NAT")
        else:
            why = (
                "its endpoint's security group does not admit 443 from the function"
                if usable
                else f"no interface endpoint for {wanted} that requests to "
                f"{', '.join(sorted(hosts))} use"
                if candidates
                else f"no interface endpoint for {wanted} and no NAT route"
            )
            outcome.gaps.append(f"network: {service} unreachable: {why}")
    if kafka:
        cluster_groups = [
            str(g)
            for _, r in resources_of_type(resolver.template, "AWS::MSK::Cluster")
            for g in resolver.resolve(r["Properties"]["BrokerNodeGroupInfo"]["SecurityGroups"])
        ]
        if any(tcp_path(rules, g, c, kafka_port) for g in groups for c in cluster_groups):
            outcome.lines.append(f"kafka: {kafka_port} to the cluster SG")
        else:
            outcome.gaps.append(
                f"network: Kafka {kafka_port} to the cluster's security group not open"
            )
    return outcome


# --- IAM ----------------------------------------------------------------------------------

AWS_MANAGED = {
    "AWSLambdaBasicExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }
    ],
    "AWSLambdaVPCAccessExecutionRole": [
        {
            "Effect": "Allow",
            "Action": [
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                *ENI_ACTIONS,
            ],
            "Resource": "*",
        }
    ],
}


def _statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement", [])
    return list(statements) if isinstance(statements, list) else [statements]


def role_statements(
    resolver: Resolver, role_logical: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """Every identity-policy statement of a role (inline, attached, AWS managed), resolved."""
    role = resolver.resources[role_logical]["Properties"]
    statements: list[dict[str, Any]] = []
    problems: list[str] = []
    for policy in role.get("Policies", []):
        statements += _statements(resolver.resolve(policy["PolicyDocument"]))
    for arn in role.get("ManagedPolicyArns", []):
        logical = referenced_logical_id(arn)
        if logical:
            statements += _statements(
                resolver.resolve(resolver.resources[logical]["Properties"]["PolicyDocument"])
            )
            continue
        name = str(resolver.resolve(arn)).rsplit("/", 1)[-1]
        if name in AWS_MANAGED:
            statements += AWS_MANAGED[name]
        else:
            problems.append(f"managed policy {name} is not known to the rehearsal")
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for _, resource in resources_of_type(resolver.template, kind):
            properties = resource["Properties"]
            if any(referenced_logical_id(r) == role_logical for r in properties.get("Roles", [])):
                statements += _statements(resolver.resolve(properties["PolicyDocument"]))
    return statements, problems


def _resource_policy(resolver: Resolver, logical: str | None) -> list[dict[str, Any]] | None:
    if logical is None:
        return None
    found = []
    for _, resource in resources_of_type(resolver.template, "AWS::SQS::QueuePolicy"):
        properties = resource["Properties"]
        if any(referenced_logical_id(q) == logical for q in properties.get("Queues", [])):
            found += _statements(resolver.resolve(properties["PolicyDocument"]))
    return found or None


def _kms_calls(resolver: Resolver, call: Call) -> list[tuple[str, str, str]]:
    """(kms action, key logical id, key ARN) the service performs for `call`."""
    if call.logical_id is None:
        return []
    resource = resolver.resources[call.logical_id]
    key = resource.get("Properties", {}).get(KEY_PROPERTY.get(resource["Type"], ""), None)
    key_logical = referenced_logical_id(key) if key is not None else None
    if key_logical is None:
        return []
    arn = resolver.attribute(key_logical, "Arn")
    return [(action, key_logical, arn) for action in KMS_ACTIONS.get(call.action, ())]


def check_iam(resolver: Resolver, role_logical: str, calls: Sequence[Call]) -> Outcome:
    outcome = Outcome()
    identity, problems = role_statements(resolver, role_logical)
    outcome.gaps += [f"IAM: {p}" for p in problems]
    principal = resolver.attribute(role_logical, "Arn")
    base_context = {
        "aws:SecureTransport": "true",
        "aws:PrincipalArn": principal,
        "aws:PrincipalAccount": resolver.account,
    }
    decisions: list[tuple[str, iam.Decision]] = []
    for call in calls:
        request = iam.Request(principal, call.action, call.resource, base_context)
        policy = _resource_policy(resolver, call.logical_id)
        decisions.append(
            (
                f"{call.action} on {call.logical_id or call.resource}",
                iam.decide(request, identity, resource_policy=policy),
            )
        )
        for action, key_logical, key_arn in _kms_calls(resolver, call):
            key_policy = _statements(
                resolver.resolve(resolver.resources[key_logical]["Properties"]["KeyPolicy"])
            )
            context = {
                **base_context,
                "kms:ViaService": f"{call.service}.{resolver.region}.amazonaws.com",
                "kms:CallerAccount": resolver.account,
            }
            request = iam.Request(principal, action, key_arn, context)
            decisions.append(
                (
                    f"{action} on key {key_logical} (for {call.action})",
                    iam.decide(request, identity, key_policy=key_policy),
                )
            )
    checked = len(decisions)
    unevaluated = {item for _, decision in decisions for item in decision.unevaluated}
    outcome.gaps += [
        f"IAM: {what} denied ({decision.reason})"
        for what, decision in decisions
        if not decision.allowed
    ]
    outcome.lines.append(f"{checked} allowed" if not outcome.gaps else f"{checked} checked")
    if unevaluated:
        outcome.lines.append("not evaluated: " + ", ".join(sorted(unevaluated)))
    return outcome


# --- time ---------------------------------------------------------------------------------


def worst_case_seconds(timing: Mapping[str, Any]) -> tuple[float, str]:
    """Longest one call can take: every attempt connecting and reading for the full
    timeouts, plus the longest back-off between attempts."""
    mode = timing.get("retry_mode") or "standard"
    attempts = int(timing.get("total_max_attempts") or DEFAULT_ATTEMPTS.get(mode, 3))
    connect = float(timing.get("connect_timeout") or 60)
    read = float(timing.get("read_timeout") or 60)
    backoff = sum(min(MAX_BACKOFF_S, 2.0**i) for i in range(attempts - 1))
    total = attempts * (connect + read) + backoff
    return total, f"{attempts} x ({connect:g} s connect + {read:g} s read) + {backoff:g} s back-off"


def check_time(
    invocations: Sequence[tuple[str, Sequence[Call]]], budget_s: float, budget_name: str
) -> Outcome:
    outcome = Outcome()
    longest = 0.0
    for scenario, calls in invocations:
        timed = [c for c in calls if c.origin == "recorded" and c.timing is not None]
        total = 0.0
        for call in timed:
            seconds, how = worst_case_seconds(call.timing or {})
            total += seconds
            if seconds > budget_s:
                gap = (
                    f"time: {call.service} {call.operation} may take {seconds:g} s ({how}) "
                    f"> {budget_name} {budget_s:g} s"
                )
                if gap not in outcome.gaps:
                    outcome.gaps.append(gap)
        if total > budget_s and not outcome.gaps:
            outcome.gaps.append(
                f"time: '{scenario}' AWS calls may take {total:g} s > {budget_name} {budget_s:g} s"
            )
        longest = max(longest, total)
    if not outcome.gaps:
        outcome.lines.append(f"AWS calls worst case {longest:g} s <= {budget_name} {budget_s:g} s")
    return outcome


# --- environment --------------------------------------------------------------------------

SECRET_NAME_WORDS = ("PASSWORD", "SECRET_STRING", "TOKEN", "PRIVATE_KEY", "CREDENTIAL")
LAMBDA_RESERVED = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "LAMBDA_TASK_ROOT",
    "_HANDLER",
)


def check_environment(
    resolver: Resolver,
    function: Mapping[str, Any],
    reads: Mapping[str, str],
    rehearsal_only: Sequence[str],
    secret_values: Sequence[str],
) -> Outcome:
    outcome = Outcome()
    variables = function.get("Environment", {}).get("Variables", {})
    for name, raw in variables.items():
        value = str(resolver.resolve(raw))
        logical = referenced_logical_id(raw)
        holds_secret_value = any(secret and secret in value for secret in secret_values)
        dynamic = "{{resolve:secretsmanager" in value
        named_like_secret = any(word in name.upper() for word in SECRET_NAME_WORDS)
        secret_reference = (
            logical and resolver.resources[logical]["Type"] == "AWS::SecretsManager::Secret"
        )
        if holds_secret_value or dynamic or (named_like_secret and not secret_reference):
            outcome.gaps.append(f"environment: {name} holds a secret")
    required_unset = sorted(
        name
        for name, how in reads.items()
        if how == "required" and name not in variables and name not in LAMBDA_RESERVED
    )
    for name in required_unset:
        if name in rehearsal_only:
            continue
        outcome.gaps.append(f"environment: {name} is read as required but not set on the function")
    used = sorted(name for name in reads if name in variables)
    defaults = sorted(
        name
        for name, how in reads.items()
        if how == "optional"
        and name not in variables
        and name not in LAMBDA_RESERVED
        and name not in rehearsal_only
    )
    outcome.lines.append(f"{len(used)} read, set")
    if defaults:
        outcome.lines.append(f"{len(defaults)} optional unset (defaults)")
    unused = sorted(set(variables) - set(reads))
    if unused:
        outcome.lines.append("set, not read by own code: " + ", ".join(unused))
    return outcome
