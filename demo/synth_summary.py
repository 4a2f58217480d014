"""Step 1: synthesize every environment in-process, as `cdk synth` does, and summarize each.

The app is built by `app.build` (the same code `cdk synth` runs) with the context the CDK CLI
would give it (cdk.json, then cdk.context.json) plus two entries of its own: Lambda bundling
skipped (`aws:cdk:bundling-stacks: []`, the summary needs no assets) and path metadata on
(the CLI's default), which names the resources. The summary is read from the synthesized
template dicts; the Kafka version warnings are the ones the app attaches at synth.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from demo import REPO_ROOT
from demo.console import INDENT, WIDTH, Console, StepFailedError
from document_exceptions.names import (
    ACL_ENFORCEMENT_RESOURCE_TYPE,
    ACL_RESOURCE_TYPE,
    ENFORCEMENT_ALLOW_EVERYONE,
    SERVICE_NAME_VARIABLE,
    TOPIC_RESOURCE_TYPE,
)
from document_exceptions.names import SERVICE_NAME as PRODUCER_SERVICE
from stacks.acl_enforcement import SERVICE_NAME as ACL_ENFORCEMENT_SERVICE
from stacks.kafka_topic import SERVICE_NAME as TOPIC_SERVICE

SKIP_BUNDLING = {"aws:cdk:bundling-stacks": []}
PATH_METADATA = {"aws:cdk:enable-path-metadata": True}
END_OF_SUPPORT = "end of support"
NOT_OFFERED = "does not offer Kafka"
LABEL_WIDTH = 9
SUMMARY_WIDTH = WIDTH - len(INDENT)
ACKNOWLEDGE_SUFFIX = re.compile(r"\s*\[ack: [^\]]*\]$")


def cdk_context() -> dict[str, Any]:
    """The context `cdk synth` gives the app: cdk.json's, then cdk.context.json's."""
    context = dict(json.loads((REPO_ROOT / "cdk.json").read_text(encoding="utf-8"))["context"])
    saved = REPO_ROOT / "cdk.context.json"
    if saved.is_file():
        context.update(json.loads(saved.read_text(encoding="utf-8")))
    return context


@dataclass(frozen=True)
class SynthesizedEnvironment:
    name: str
    stack_name: str
    template: dict[str, Any]
    config: Any  # stacks.config.EnvironmentConfig
    termination_protection: bool
    warnings: tuple[str, ...]
    errors: tuple[str, ...]


def synthesize() -> list[SynthesizedEnvironment]:
    """Build every environment's stack with `app.build` and synthesize it, bundling skipped."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    import aws_cdk as cdk  # noqa: PLC0415 - slow to import (jsii); only this step needs it

    import app as app_module  # noqa: PLC0415 - the repository's app.py

    with tempfile.TemporaryDirectory(prefix="demo-cdk-out-") as outdir:
        app = cdk.App(context={**cdk_context(), **SKIP_BUNDLING, **PATH_METADATA}, outdir=outdir)
        stacks = app_module.build(app)
        assembly = app.synth()
        environments = []
        for name, stack in stacks.items():
            artifact = assembly.get_stack_by_name(stack.stack_name)
            warnings, errors = [], []
            for message in artifact.messages:
                level = str(message.level).rsplit(".", 1)[-1].upper()
                text = str(message.entry.data)
                if level == "ERROR":
                    errors.append(f"{message.id}: {text}")
                elif level == "WARNING":
                    warnings.append(ACKNOWLEDGE_SUFFIX.sub("", text))
            environments.append(
                SynthesizedEnvironment(
                    name=name,
                    stack_name=stack.stack_name,
                    template=artifact.template,
                    config=stack.config,
                    termination_protection=bool(artifact.termination_protection),
                    warnings=tuple(warnings),
                    errors=tuple(errors),
                )
            )
    return environments


def resources_of(template: Mapping[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == resource_type
    }


def construct_name(resource: Mapping[str, Any], fallback: str) -> str:
    """The resource's construct id from its path metadata (`Stack/Producer/Queue/Resource`)."""
    path = resource.get("Metadata", {}).get("aws:cdk:path", "")
    parts = [part for part in path.split("/") if part not in ("Resource", "Default")]
    return parts[-1] if len(parts) > 1 else fallback


def describe_subnets(template: Mapping[str, Any], cluster: Mapping[str, Any], config: Any) -> str:
    subnets = cluster["Properties"]["BrokerNodeGroupInfo"]["ClientSubnets"]
    resources = template.get("Resources", {})
    created = [resources.get(s["Ref"], {}) for s in subnets if isinstance(s, dict) and "Ref" in s]
    if created and len(created) == len(subnets):
        vpc = next(iter(resources_of(template, "AWS::EC2::VPC").values()), {})
        block = vpc.get("Properties", {}).get("CidrBlock", "?")
        named = ", ".join(
            f"{props.get('CidrBlock', '?')} {props.get('AvailabilityZone', '?')}"
            for props in (r["Properties"] for r in created)
        )
        return f"new subnets {named} (new VPC {block})"
    zone_of = {s.subnet_id: s.availability_zone for s in config.network.subnets}
    named = ", ".join(f"{s} {zone_of.get(s, '?')}" for s in subnets if isinstance(s, str))
    return f"subnets {named} ({config.network.vpc_id})"


def describe_auth(cluster: Mapping[str, Any]) -> str:
    props = cluster["Properties"]
    auth = props.get("ClientAuthentication", {})
    sasl = auth.get("Sasl", {})
    methods = [
        name
        for name, enabled in (
            ("SASL/SCRAM", sasl.get("Scram", {}).get("Enabled")),
            ("IAM", sasl.get("Iam", {}).get("Enabled")),
            ("UNAUTHENTICATED", auth.get("Unauthenticated", {}).get("Enabled")),
        )
        if enabled is True
    ]
    in_transit = props.get("EncryptionInfo", {}).get("EncryptionInTransit", {})
    at_rest = "CMK" if props.get("EncryptionInfo", {}).get("EncryptionAtRest") else "AWS-owned key"
    only = " only" if methods == ["SASL/SCRAM"] else ""
    return (
        f"{' + '.join(methods) or 'no auth'}{only}, {in_transit.get('ClientBroker', '?')}, "
        f"{at_rest} at rest"
    )


def describe_topics(template: Mapping[str, Any]) -> str:
    topics = resources_of(template, TOPIC_RESOURCE_TYPE)
    if not topics:
        return "topic: NO topic resource"
    return " + ".join(
        f"topic {props.get('TopicName')} ({props.get('Partitions')} partitions, "
        f"RF {props.get('ReplicationFactor')})"
        for props in (t["Properties"] for t in topics.values())
    )


def describe_acls(template: Mapping[str, Any]) -> str:
    """Whether this app keeps Kafka ACLs (the SCRAM app user's and the brokers') and sets
    allow.everyone.if.no.acl.found=false ("enforced") once they exist."""
    acls = [r["Properties"] for r in resources_of(template, ACL_RESOURCE_TYPE).values()]
    if not acls:
        return "no ACLs"
    enforcement = [
        r["Properties"] for r in resources_of(template, ACL_ENFORCEMENT_RESOURCE_TYPE).values()
    ]
    enforced = any(p.get(ENFORCEMENT_ALLOW_EVERYONE) == "false" for p in enforcement)
    return "ACLs enforced" if enforced else "ACLs not enforced"


def describe_functions(template: Mapping[str, Any]) -> str:
    """The project's functions by the service name they log under (the ACL enforcement's two
    handlers once); CDK's own helper functions are not named."""
    roles = {
        PRODUCER_SERVICE: "producer",
        TOPIC_SERVICE: "topic",
        ACL_ENFORCEMENT_SERVICE: "ACLs",
    }
    variables = (
        resource["Properties"].get("Environment", {}).get("Variables", {})
        for resource in resources_of(template, "AWS::Lambda::Function").values()
    )
    own = {
        roles[v[SERVICE_NAME_VARIABLE]] for v in variables if v.get(SERVICE_NAME_VARIABLE) in roles
    }
    return f"functions {' + '.join(sorted(own)) or 'NONE of the project'}"


def describe_queues(template: Mapping[str, Any]) -> str:
    names = [
        construct_name(r, lid).removesuffix("Queue") or "Queue"
        for lid, r in resources_of(template, "AWS::SQS::Queue").items()
    ]
    return f"queues {' + '.join(names)}" if names else "no queues"


def facts(environment: SynthesizedEnvironment) -> dict[str, str]:
    """What the summary says about one environment, read from its template (in print order)."""
    template = environment.template
    clusters = resources_of(template, "AWS::MSK::Cluster")
    if len(clusters) != 1:
        raise StepFailedError(
            f"{environment.stack_name}: expected one MSK cluster, found {len(clusters)}"
        )
    cluster = next(iter(clusters.values()))
    props = cluster["Properties"]
    nodes = props["BrokerNodeGroupInfo"]
    volume = nodes["StorageInfo"]["EBSStorageInfo"]["VolumeSize"]
    eos = " (END OF SUPPORT)" if any(END_OF_SUPPORT in w for w in environment.warnings) else ""
    kept = "kept" if cluster.get("DeletionPolicy") == "Retain" else "destroyed"
    guard = ", termination-protected" if environment.termination_protection else ""
    return {
        "cluster": f"cluster {props['ClusterName']}",
        "version": f"Kafka {props['KafkaVersion']}{eos}",
        "brokers": f"{nodes['InstanceType']} x {props['NumberOfBrokerNodes']}",
        "volume": f"{volume} GiB EBS",
        "auth": describe_auth(cluster),
        "subnets": describe_subnets(template, cluster, environment.config),
        "removal": f"data {kept} on delete{guard}",
        "topic": describe_topics(template),
        "acls": describe_acls(template),
        "functions": describe_functions(template),
        "queues": describe_queues(template),
    }


def summarize(environments: list[SynthesizedEnvironment]) -> list[str]:
    """One block per environment; facts equal in every environment are said once, first."""
    all_facts = [facts(environment) for environment in environments]
    keys = list(all_facts[0]) if all_facts else []
    shared = [
        key
        for key in keys
        if len(environments) > 1 and all(f.get(key) == all_facts[0][key] for f in all_facts)
    ]
    blocks = []
    if shared:
        blocks.append((f"all {len(environments)}", [all_facts[0][key] for key in shared]))
    for environment, values in zip(environments, all_facts, strict=True):
        blocks.append(
            (environment.name, [text for key, text in values.items() if key not in shared])
        )
    lines = []
    for label, texts in blocks:
        wrapped = textwrap.wrap(
            ", ".join(texts), SUMMARY_WIDTH - LABEL_WIDTH, break_on_hyphens=False
        )
        for index, piece in enumerate(wrapped):
            lines.append(f"{label if index == 0 else '':<{LABEL_WIDTH}}{piece}")
    return lines


def run(console: Console) -> list[SynthesizedEnvironment]:
    with console.quiet():  # jsii may print banners
        environments = synthesize()
    for line in summarize(environments):
        console.detail(line)
    warnings = sorted(
        {
            w.split(": ", 1)[-1]
            for e in environments
            for w in e.warnings
            if END_OF_SUPPORT in w or NOT_OFFERED in w
        }
    )
    for warning in warnings:
        console.detail(f"WARNING: {warning}")
    errors = [error for environment in environments for error in environment.errors]
    if errors:
        raise StepFailedError(f"{len(errors)} synth error(s), first: {errors[0]}")
    return environments
