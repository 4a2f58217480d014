"""The environment's log groups: one retention, one removal policy, one customer-managed key.

Broker logs, VPC flow logs and the functions' logs can hold order ids, user ids, IP
addresses and error text, so they are encrypted at rest with a key of the environment
(rotation on), like the broker volumes, the secret and the queues. CloudWatch Logs itself
encrypts and decrypts, so only its regional service principal is in the key policy, and
only for this stack's log groups: every group is named `/<stack name>/<construct path>`,
and the key policy's encryption-context condition names that prefix. Writers (Lambda, MSK,
flow logs) need no KMS permission.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

# What CloudWatch Logs needs on the key (AmazonCloudWatch/latest/logs/encrypt-log-data-kms).
LOGS_KEY_ACTIONS = (
    "kms:Encrypt*",
    "kms:Decrypt*",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:Describe*",
)


class EncryptedLogGroups(Construct):
    """The key every log group of the environment is encrypted with, and their factory.

    `create(scope, id)` makes a log group with the environment's retention, removal policy
    and key, under `scope` (so its logical ID is that of a plain `LogGroup` there).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        self.retention = retention
        self.removal_policy = removal_policy
        stack = Stack.of(self)
        self.name_prefix = f"/{stack.stack_name}/"
        self.key = kms.Key(
            self,
            "Key",
            description=f"CloudWatch Logs of {stack.stack_name}: encryption at rest",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsOfThisAccountAndRegion",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=list(LOGS_KEY_ACTIONS),
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name=f"{self.name_prefix}*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )

    def create(
        self, scope: Construct, id: str, *, removal_policy: RemovalPolicy | None = None
    ) -> logs.LogGroup:
        """A log group encrypted with the key, named `/<stack>/<path of scope>/<id>`;
        `removal_policy` overrides the environment's."""
        stack = Stack.of(scope)
        path = "/".join(
            [
                *(node.node.id for node in scope.node.scopes if node is not stack and node.node.id),
                id,
            ]
        )
        return logs.LogGroup(
            scope,
            id,
            log_group_name=self.name_prefix + path,
            retention=self.retention,
            removal_policy=removal_policy or self.removal_policy,
            encryption_key=self.key,
        )
