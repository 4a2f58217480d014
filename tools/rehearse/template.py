"""A synthesized CloudFormation template, read the way the rehearsal needs it.

`Resolver` turns `Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Select`, `Fn::Split` and `Fn::Sub`
into concrete strings: each template resource gets a stable stand-in identity (an ARN, a
queue URL, a security-group id) derived from its logical ID, unless the rehearsal created
the resource in moto and overrides it with moto's identity. Policies, environments and
security-group rules are then compared as plain strings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from document_exceptions.names import TOPIC_RESOURCE_TYPE

PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"
KAFKA_TOPIC_DATA = ("TopicName", "Partitions", "ReplicationFactor")


class UnresolvableError(ValueError):
    """An intrinsic the resolver does not know, or a reference to a missing resource."""


@dataclass
class Resolver:
    """Concrete values for a template's intrinsics; `overrides[(logical_id, attribute)]` wins
    (attribute "Ref" for `Ref`)."""

    template: Mapping[str, Any]
    region: str
    account: str
    stack_name: str
    overrides: dict[tuple[str, str], Any] = field(default_factory=dict)

    @property
    def resources(self) -> Mapping[str, Any]:
        return self.template["Resources"]

    def resolve(self, value: Any) -> Any:  # noqa: PLR0911 - one return per intrinsic
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Fn::GetAtt":
                logical, attribute = (
                    argument if isinstance(argument, list) else argument.split(".", 1)
                )
                return self.attribute(logical, attribute)
            if key == "Fn::Join":
                separator, parts = argument
                return separator.join(str(self.resolve(part)) for part in self.resolve(parts))
            if key == "Fn::Select":
                index, items = argument
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                separator, text = argument
                return str(self.resolve(text)).split(separator)
            if key == "Fn::Sub":
                return self._sub(argument)
            if key.startswith("Fn::"):
                raise UnresolvableError(f"intrinsic {key} is not supported")
        return {key: self.resolve(item) for key, item in value.items()}

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name:
                logical, attribute = name.split(".", 1)
                return str(self.attribute(logical, attribute))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}!]+)\}", replace, text)

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": URL_SUFFIX,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": self.arn("cloudformation", f"stack/{self.stack_name}/rehearsal-uuid"),
        }
        if name in pseudo:
            return pseudo[name]
        if (name, "Ref") in self.overrides:
            return self.overrides[(name, "Ref")]
        resource = self._resource(name)
        return self._stand_in(name, resource, "Ref")

    def attribute(self, logical: str, attribute: str) -> Any:
        if (logical, attribute) in self.overrides:
            return self.overrides[(logical, attribute)]
        return self._stand_in(logical, self._resource(logical), attribute)

    def _resource(self, logical: str) -> Mapping[str, Any]:
        try:
            return self.resources[logical]
        except KeyError:
            raise UnresolvableError(f"no resource {logical} in the template") from None

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        where = self.region if region else ""
        return f"arn:{PARTITION}:{service}:{where}:{self.account}:{resource}"

    def _stand_in(self, logical: str, resource: Mapping[str, Any], attribute: str) -> Any:  # noqa: PLR0911, PLR0912 - one branch per resource type
        kind = resource["Type"]
        properties = resource.get("Properties", {})
        if kind == "AWS::SQS::Queue":
            if attribute == "Ref":
                return f"https://sqs.{self.region}.{URL_SUFFIX}/{self.account}/{logical}"
            if attribute == "QueueName":
                return logical
            return self.arn("sqs", logical)
        if kind == "AWS::SecretsManager::Secret":
            return self.arn("secretsmanager", f"secret:{properties.get('Name', logical)}-AbCdEf")
        if kind == "AWS::KMS::Key":
            return self.arn("kms", f"key/{logical}") if attribute == "Arn" else logical
        if kind == "AWS::MSK::Cluster":
            name = properties.get("ClusterName", logical)
            return self.arn("kafka", f"cluster/{name}/rehearsal-uuid")
        if kind == "AWS::MSK::Topic" and attribute == "TopicArn":
            # MSK's topic ARN: the cluster's, with topic/ for cluster/ and the name after.
            cluster = str(self.resolve(properties["ClusterArn"]))
            topic = self.resolve(properties["TopicName"])
            return cluster.replace(":cluster/", ":topic/", 1) + f"/{topic}"
        if kind == "AWS::MSK::Configuration":
            if attribute == "LatestRevision.Revision":
                return 1
            name = properties.get("Name", logical)
            return self.arn("kafka", f"configuration/{name}/rehearsal-uuid")
        if kind == "AWS::StepFunctions::StateMachine":
            return self.arn("states", f"stateMachine:{logical}")
        if kind == "AWS::Lambda::Function":
            return self.arn("lambda", f"function:{logical}") if attribute == "Arn" else logical
        if kind == "AWS::IAM::Role":
            return (
                self.arn("iam", f"role/{logical}", region=False) if attribute == "Arn" else logical
            )
        if kind == "AWS::IAM::ManagedPolicy":
            return self.arn("iam", f"policy/{logical}", region=False)
        if kind == "AWS::Logs::LogGroup":
            name = self.resolve(properties.get("LogGroupName", logical))
            return self.arn("logs", f"log-group:{name}:*") if attribute == "Arn" else name
        if kind == "AWS::EC2::SecurityGroup":
            return f"sg-{logical}"
        if kind == "AWS::EC2::VPC":
            return f"vpc-{logical}" if attribute == "Ref" else f"{logical}.{attribute}"
        if kind == "AWS::EC2::Subnet":
            return f"subnet-{logical}"
        if kind == "AWS::EC2::VPCEndpoint":
            if attribute == "DnsEntries":
                service = str(self.resolve(properties["ServiceName"])).split(".")[-1]
                host = f"vpce-{logical.lower()}.{service}.{self.region}.vpce.{URL_SUFFIX}"
                return [f"ZREHEARSAL:{host}"]
            return f"vpce-{logical.lower()}"
        if kind == "AWS::Events::EventBus":
            name = properties.get("Name", logical)
            return self.arn("events", f"event-bus/{name}") if attribute == "Arn" else name
        if kind == "AWS::Events::Rule":
            return self.arn("events", f"rule/{logical}")
        if kind == TOPIC_RESOURCE_TYPE and attribute in KAFKA_TOPIC_DATA:
            # The topic handler answers with its own properties as Data.
            return self.resolve(properties[attribute])
        if attribute == "Ref":
            return logical
        return f"{logical}.{attribute}"


def resources_of_type(template: Mapping[str, Any], kind: str) -> Iterator[tuple[str, Any]]:
    for logical, resource in template["Resources"].items():
        if resource["Type"] == kind:
            yield logical, resource


def referenced_logical_id(value: Any) -> str | None:
    """The logical ID behind `{"Ref": X}` or `{"Fn::GetAtt": [X, ...]}` (else None)."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, argument),) = value.items()
        if key == "Ref" and isinstance(argument, str) and not argument.startswith("AWS::"):
            return argument
        if key == "Fn::GetAtt":
            return argument[0] if isinstance(argument, list) else argument.split(".", 1)[0]
    return None


def json_properties(resolver: Resolver, value: Any) -> Any:
    """A property holding JSON text (AwsCustomResource's `Create`), resolved and parsed."""
    text = resolver.resolve(value)
    return json.loads(text) if isinstance(text, str) else text
