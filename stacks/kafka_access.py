"""What a client construct needs to reach the cluster: the platform-client seam."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aws_cdk import Fn, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct, IDependable

from document_exceptions.names import KAFKA_AUTH_IAM
from stacks.config import IAM_PORT, SCRAM_PORT, KafkaAuthMode

# What an MSK IAM client must be allowed on the cluster ARN to open a session at all.
CONNECT_ACTION = "kafka-cluster:Connect"


def kafka_resource_arn(cluster_arn: str, kind: str, name: str = "") -> str:
    """The `kafka-cluster:*` ARN of a topic or group of the cluster (or the cluster itself).

    MSK's cluster ARN is `arn:P:kafka:R:A:cluster/NAME/UUID`; a topic's is
    `arn:P:kafka:R:A:topic/NAME/UUID/TOPIC` and a group's `.../group/NAME/UUID/GROUP`. The UUID
    is known only after the cluster exists, so the template cuts it out of the cluster ARN
    (Fn::Split on "/" and Fn::Select), which keeps each policy on this one cluster.
    """
    if kind == "cluster":
        return cluster_arn
    parts = Fn.split("/", cluster_arn)
    variables = {"ClusterName": Fn.select(1, parts), "ClusterUuid": Fn.select(2, parts)}
    # A literal name stays readable in the template (and in cdk-nag's findings).
    if Token.is_unresolved(name):
        variables["Name"] = name
        name = "${Name}"
    return Fn.sub(
        "arn:${AWS::Partition}:kafka:${AWS::Region}:${AWS::AccountId}:"
        f"{kind}/${{ClusterName}}/${{ClusterUuid}}/{name}",
        variables,
    )


@dataclass(frozen=True)
class KafkaClientAccess:
    """Handed by the cluster construct to every construct whose code talks to the brokers.

    `auth_mode` is how this app's own clients authenticate: "iam" (SASL AWS_MSK_IAM on 9098,
    `bootstrap_brokers` is the IAM broker string, no secret is read) or "scram" (9096, the
    SASL/SCRAM broker string and the secret). `dependencies` are the resources a client must
    be created after (and deleted before): the cluster, the SCRAM secret association and the
    deploy-time broker lookup.
    """

    cluster_arn: str
    cluster_security_group: ec2.ISecurityGroup
    secret: secretsmanager.ISecret
    bootstrap_brokers: str
    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    endpoints_security_group: ec2.ISecurityGroup | None
    auth_mode: KafkaAuthMode = "scram"
    # The SASL/SCRAM user the secret holds: the Django apps' principal (`User:<name>`).
    scram_username: str | None = None
    dependencies: tuple[IDependable, ...] = ()
    # AWS_ENDPOINT_URL_<SERVICE> variables for functions in the VPC when the interface
    # endpoints do not own the services' public names (see Network).
    endpoint_environment: Mapping[str, str] = field(default_factory=dict)
    # Whether a client can reach the cluster without an identity, as `User:ANONYMOUS` (the
    # brokers' own principal, which the ACL resource grants ALL on the cluster): the cluster
    # construct reads it from the cluster's properties; unknown counts as yes.
    anonymous_clients: bool = True

    @property
    def uses_iam(self) -> bool:
        return self.auth_mode == KAFKA_AUTH_IAM

    @property
    def port(self) -> int:
        """The broker port this app's own clients use: 9098 (IAM) or 9096 (SASL/SCRAM)."""
        return IAM_PORT if self.uses_iam else SCRAM_PORT

    @property
    def listener(self) -> str:
        return "IAM" if self.uses_iam else "SASL/SCRAM"

    def allow_client(
        self, scope: Construct, id: str, client_security_group: ec2.ISecurityGroup
    ) -> ec2.CfnSecurityGroupIngress:
        """Open the client port (9098 with IAM, else 9096) on the cluster SG to one client SG,
        as its own rule resource.

        A separate ingress resource (not the cluster's SG list) so adding clients never
        replaces the cluster.
        """
        client_security_group.connections.allow_to(
            ec2.Peer.security_group_id(self.cluster_security_group.security_group_id),
            ec2.Port.tcp(self.port),
            f"{self.listener} to the MSK brokers",
        )
        return ec2.CfnSecurityGroupIngress(
            scope,
            id,
            group_id=self.cluster_security_group.security_group_id,
            ip_protocol="tcp",
            from_port=self.port,
            to_port=self.port,
            source_security_group_id=client_security_group.security_group_id,
            description=f"{self.listener} from a client of this app",
        )

    def allow_endpoints(self, client_security_group: ec2.ISecurityGroup) -> None:
        """Let a client reach the interface endpoints (Secrets Manager, Kafka API) on 443."""
        if self.endpoints_security_group is None:
            client_security_group.connections.allow_to(
                ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "AWS APIs through NAT"
            )
            return
        client_security_group.connections.allow_to(
            self.endpoints_security_group, ec2.Port.tcp(443), "AWS APIs through interface endpoints"
        )

    def grant_connect(self, grantee: iam.IGrantable) -> None:
        """Look up this cluster's brokers, and, with SASL/SCRAM only, read (and decrypt) the
        secret. With IAM the Kafka actions come from `grant_kafka`; no secret is readable."""
        if not self.uses_iam:
            self.secret.grant_read(grantee)
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=[
                "kafka:GetBootstrapBrokers",
                "kafka:DescribeCluster",
                "kafka:DescribeClusterV2",
            ],
            resource_arns=[self.cluster_arn],
        )

    def cluster_statement(self, actions: Sequence[str] = ()) -> iam.PolicyStatement:
        """`kafka-cluster:Connect` (which every Kafka action needs) and `actions` on this
        cluster's ARN."""
        return iam.PolicyStatement(actions=[CONNECT_ACTION, *actions], resources=[self.cluster_arn])

    def topic_statement(self, topic: str, actions: Sequence[str]) -> iam.PolicyStatement:
        """`actions` on one topic of this cluster."""
        return iam.PolicyStatement(
            actions=list(actions), resources=[kafka_resource_arn(self.cluster_arn, "topic", topic)]
        )

    def group_statement(self, pattern: str, actions: Sequence[str]) -> iam.PolicyStatement:
        """`actions` on the consumer groups of this cluster whose names match `pattern`."""
        return iam.PolicyStatement(
            actions=list(actions),
            resources=[kafka_resource_arn(self.cluster_arn, "group", pattern)],
        )

    def grant_kafka(self, grantee: iam.IGrantable, *statements: iam.PolicyStatement) -> None:
        """Add `statements` to `grantee`'s policy when this app's clients use IAM (with
        SASL/SCRAM only, Kafka ignores IAM policies: nothing to add)."""
        if not self.uses_iam:
            return
        for statement in statements:
            grantee.grant_principal.add_to_principal_policy(statement)
