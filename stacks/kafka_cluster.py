"""The MSK cluster: SASL/SCRAM over TLS only, CMK encryption, broker logs, SCRAM secret.

The L1 `CfnCluster` is used on purpose: the aws-msk-alpha L2 counts brokers per AZ, ignores
a customer key passed for the SCRAM secret (aws-cdk issue 22617), associates secrets through
an SDK-call custom resource that reports success on failure (issue 34794) and leaves broker
logging off. `CfnBatchScramSecret` associates the secret natively.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import Annotations, Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_msk as msk
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import custom_resources as cr
from constructs import Construct

from document_exceptions.names import KAFKA_AUTH_IAM
from stacks import nag
from stacks.config import ALLOW_EVERYONE_PROPERTY, SCRAM_PORT, EnvironmentConfig
from stacks.kafka_access import KafkaClientAccess
from stacks.log_groups import EncryptedLogGroups
from stacks.network import Network
from stacks.vpc_function import execution_role

BOOTSTRAP_BROKERS_FIELD = "BootstrapBrokerStringSaslScram"
IAM_BOOTSTRAP_BROKERS_FIELD = "BootstrapBrokerStringSaslIam"


def removal_policy(config: EnvironmentConfig) -> RemovalPolicy:
    """Stateful resources: retained (staging, prod) or destroyed (dev), from config."""
    return RemovalPolicy.RETAIN if config.retain else RemovalPolicy.DESTROY


def log_retention(config: EnvironmentConfig) -> logs.RetentionDays:
    return logs.RetentionDays[config.log_retention_name]


def allows_anonymous_clients(cluster: msk.CfnCluster) -> bool:
    """Whether a client could reach `cluster` without an identity, i.e. as `User:ANONYMOUS`,
    the principal MSK's brokers replicate as on a SASL/SCRAM cluster: read from the cluster's
    own properties (unauthenticated access enabled, or a client listener that is not TLS
    only). Anything that cannot be read at synth time counts as allowing them."""
    authentication = cluster.client_authentication
    unauthenticated = getattr(authentication, "unauthenticated", None)
    encryption = getattr(cluster.encryption_info, "encryption_in_transit", None)
    return getattr(unauthenticated, "enabled", True) is not False or (
        getattr(encryption, "client_broker", None) != "TLS"
    )


def server_properties_text(properties: Mapping[str, str]) -> str:
    """An MSK configuration's `ServerProperties`: one `key=value` line per property, sorted."""
    return "".join(f"{key}={value}\n" for key, value in sorted(properties.items()))


class KafkaCluster(Construct):
    """An MSK provisioned cluster reachable over TLS only: SASL/SCRAM on 9096 and, with
    `kafka_auth` "iam" (the default), IAM access control on 9098 beside it.

    Exposes `cluster` (the `CfnCluster`), `cluster_arn`, `security_group`, `secret`,
    `configuration` (the open one the template references), `enforced_configuration` (with
    IAM: the same plus `allow.everyone.if.no.acl.found=false`, else None), `data_key`,
    `secret_key`, `log_group`, `scram_association`,
    `bootstrap_brokers` (a deploy-time token with the SASL/SCRAM broker string) and
    `iam_bootstrap_brokers` (the IAM broker string; None with `kafka_auth` "scram").
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: EnvironmentConfig,
        vpc: ec2.IVpc,
        broker_subnets: ec2.SubnetSelection,
        log_groups: EncryptedLogGroups,
    ) -> None:
        super().__init__(scope, id)
        self.config = config
        self.log_groups = log_groups
        policy = removal_policy(config)
        # The one place the version warning is shown: `cdk synth` prints it once per
        # environment with its id; `acknowledged_warnings` in cdk.json silences it, with a reason.
        warning = config.kafka_version_warning
        if warning:
            Annotations.of(self).add_warning_v2(warning.ack_id, warning.message)
            reason = config.acknowledged_warnings.get(warning.ack_id)
            if reason is not None:
                Annotations.of(self).acknowledge_warning(warning.ack_id, reason)

        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description=f"MSK {config.cluster_name}: SASL/SCRAM {SCRAM_PORT} from clients only",
            allow_all_outbound=False,
            disable_inline_rules=True,
        )
        self._allow_configured_clients()

        self.data_key = kms.Key(
            self,
            "DataKey",
            description=f"MSK {config.cluster_name}: broker storage encryption at rest",
            enable_key_rotation=True,
            removal_policy=policy,
        )
        self.log_group = log_groups.create(self, "BrokerLogs")
        self.configuration = msk.CfnConfiguration(
            self,
            "Configuration",
            name=f"{config.cluster_name}-configuration",
            description=f"Broker settings of {config.cluster_name}",
            server_properties=server_properties_text(config.server_properties),
        )
        self.configuration.apply_removal_policy(policy)
        self.enforced_configuration = self._add_enforced_configuration(policy)

        subnet_ids = [subnet.subnet_id for subnet in broker_subnets.subnets or ()]
        self.cluster = msk.CfnCluster(
            self,
            "Cluster",
            cluster_name=config.cluster_name,
            kafka_version=config.kafka_version,
            number_of_broker_nodes=config.broker_nodes,
            broker_node_group_info=msk.CfnCluster.BrokerNodeGroupInfoProperty(
                client_subnets=subnet_ids,
                instance_type=config.broker_instance_type,
                # The created group first, then the existing groups from config. Fixed at
                # creation: changing this list replaces the cluster (see NetworkSettings).
                security_groups=[
                    self.security_group.security_group_id,
                    *config.network.broker_security_group_ids,
                ],
                storage_info=msk.CfnCluster.StorageInfoProperty(
                    ebs_storage_info=msk.CfnCluster.EBSStorageInfoProperty(
                        volume_size=config.volume_gib
                    )
                ),
            ),
            client_authentication=msk.CfnCluster.ClientAuthenticationProperty(
                sasl=msk.CfnCluster.SaslProperty(
                    scram=msk.CfnCluster.ScramProperty(enabled=True),
                    # Updated in place: turning IAM on (or off) never replaces the cluster.
                    iam=msk.CfnCluster.IamProperty(enabled=config.kafka_auth == KAFKA_AUTH_IAM),
                ),
                unauthenticated=msk.CfnCluster.UnauthenticatedProperty(enabled=False),
            ),
            encryption_info=msk.CfnCluster.EncryptionInfoProperty(
                encryption_at_rest=msk.CfnCluster.EncryptionAtRestProperty(
                    data_volume_kms_key_id=self.data_key.key_arn
                ),
                encryption_in_transit=msk.CfnCluster.EncryptionInTransitProperty(
                    client_broker="TLS", in_cluster=True
                ),
            ),
            configuration_info=msk.CfnCluster.ConfigurationInfoProperty(
                arn=self.configuration.attr_arn,
                revision=self.configuration.attr_latest_revision_revision,
            ),
            enhanced_monitoring=config.enhanced_monitoring,
            logging_info=msk.CfnCluster.LoggingInfoProperty(
                broker_logs=msk.CfnCluster.BrokerLogsProperty(
                    cloud_watch_logs=msk.CfnCluster.CloudWatchLogsProperty(
                        enabled=True, log_group=self.log_group.log_group_name
                    )
                )
            ),
        )
        self.cluster.apply_removal_policy(policy)
        if self.enforced_configuration is not None:
            # Not referenced by the cluster (a custom resource applies it after the ACLs), yet
            # in use once applied: the cluster is created after it and deleted before it.
            self.cluster.node.add_dependency(self.enforced_configuration)
        self.cluster_arn = self.cluster.ref

        self.secret_key = kms.Key(
            self,
            "SecretKey",
            description=f"MSK {config.cluster_name}: SASL/SCRAM secret (MSK refuses the AWS key)",
            enable_key_rotation=True,
            removal_policy=policy,
        )
        self.secret = secretsmanager.Secret(
            self,
            "ScramSecret",
            secret_name=config.secret_name,
            description=f"SASL/SCRAM credentials for {config.cluster_name}",
            encryption_key=self.secret_key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({"username": config.scram_username}),
                generate_string_key="password",
                exclude_punctuation=True,
                password_length=32,
            ),
            removal_policy=policy,
        )
        nag.suppress(
            self.secret,
            "AwsSolutions-SMG4",
            "MSK SASL/SCRAM credentials have no managed rotation; rotating means re-associating "
            "the secret and restarting every client, done as an operator runbook step.",
        )
        self.scram_association = msk.CfnBatchScramSecret(
            self,
            "ScramSecretAssociation",
            cluster_arn=self.cluster_arn,
            secret_arn_list=[self.secret.secret_arn],
        )

        self.broker_lookup = self._add_broker_lookup()
        self.bootstrap_brokers: str = self.broker_lookup.get_response_field(BOOTSTRAP_BROKERS_FIELD)
        self.iam_bootstrap_brokers: str | None = (
            self.broker_lookup.get_response_field(IAM_BOOTSTRAP_BROKERS_FIELD)
            if config.kafka_auth == KAFKA_AUTH_IAM
            else None
        )

    def _add_enforced_configuration(self, policy: RemovalPolicy) -> msk.CfnConfiguration | None:
        """With IAM: the same broker settings plus `allow.everyone.if.no.acl.found=false`.

        The cluster keeps referencing the open configuration (MSK's default, `true`), so
        CloudFormation never restarts the brokers with `false` before the SCRAM user's ACLs
        exist; `stacks.acl_enforcement.AclEnforcement` points the cluster at this one after
        them. Its own name; an empty KafkaVersionsList like the open one.
        """
        if self.config.kafka_auth != KAFKA_AUTH_IAM:
            return None
        configuration = msk.CfnConfiguration(
            self,
            "EnforcedConfiguration",
            name=f"{self.config.cluster_name}-configuration-acls-enforced",
            description=(
                f"Broker settings of {self.config.cluster_name} with Kafka ACLs enforced for "
                "SASL/SCRAM clients"
            ),
            server_properties=server_properties_text(
                {**self.config.server_properties, ALLOW_EVERYONE_PROPERTY: "false"}
            ),
        )
        configuration.apply_removal_policy(policy)
        return configuration

    def _allow_configured_clients(self) -> None:
        """One ingress rule resource per client in config: adding one never replaces the cluster."""
        access = self.config.client_access
        for group_id in access.security_group_ids:
            ec2.CfnSecurityGroupIngress(
                self,
                f"ClientIngress-{group_id}",
                group_id=self.security_group.security_group_id,
                ip_protocol="tcp",
                from_port=SCRAM_PORT,
                to_port=SCRAM_PORT,
                source_security_group_id=group_id,
                description=f"SASL/SCRAM from client security group {group_id}",
            )
        for cidr in access.cidrs:
            address = "cidr_ipv6" if ":" in cidr else "cidr_ip"
            ec2.CfnSecurityGroupIngress(
                self,
                f"ClientIngress-{cidr.replace('/', '-')}",
                group_id=self.security_group.security_group_id,
                ip_protocol="tcp",
                from_port=SCRAM_PORT,
                to_port=SCRAM_PORT,
                description=f"SASL/SCRAM from client network {cidr}",
                **{address: cidr},
            )

    def _add_broker_lookup(self) -> cr.AwsCustomResource:
        """`kafka:GetBootstrapBrokers` at deploy time, scoped to this cluster.

        The physical id carries the broker count, so adding brokers re-runs the lookup. The
        function runs outside the VPC (it needs the public MSK API and CloudFormation's URL).
        """
        call = cr.AwsSdkCall(
            service="Kafka",
            action="getBootstrapBrokers",
            parameters={"ClusterArn": self.cluster_arn},
            physical_resource_id=cr.PhysicalResourceId.of(
                f"{self.config.cluster_name}-brokers-{self.config.broker_nodes}"
            ),
            output_paths=[
                BOOTSTRAP_BROKERS_FIELD,
                *(
                    [IAM_BOOTSTRAP_BROKERS_FIELD]
                    if self.config.kafka_auth == KAFKA_AUTH_IAM
                    else []
                ),
            ],
        )
        log_group = self.log_groups.create(
            self, "BootstrapBrokersLogs", removal_policy=RemovalPolicy.DESTROY
        )
        lookup = cr.AwsCustomResource(
            self,
            "BootstrapBrokers",
            on_create=call,
            on_update=call,
            policy=cr.AwsCustomResourcePolicy.from_sdk_calls(resources=[self.cluster_arn]),
            install_latest_aws_sdk=False,
            timeout=Duration.minutes(2),
            log_group=log_group,
            role=execution_role(
                self,
                "BootstrapBrokersRole",
                log_group=log_group,
                in_vpc=False,
                description="CDK AwsCustomResource function: kafka:GetBootstrapBrokers",
            ),
        )
        lookup.node.add_dependency(self.scram_association)
        return lookup

    def client_access(self, network: Network) -> KafkaClientAccess:
        """What a client construct (producer Lambda, topic bootstrap) needs to reach the brokers:
        with IAM, the IAM broker string (9098); with SASL/SCRAM only, the SCRAM one (9096)."""
        return KafkaClientAccess(
            cluster_arn=self.cluster_arn,
            cluster_security_group=self.security_group,
            secret=self.secret,
            auth_mode=self.config.kafka_auth,
            scram_username=self.config.scram_username,
            bootstrap_brokers=self.iam_bootstrap_brokers or self.bootstrap_brokers,
            vpc=network.vpc,
            subnets=network.broker_subnets,
            endpoints_security_group=network.endpoints_security_group,
            endpoint_environment=dict(network.endpoint_environment),
            dependencies=(self.cluster, self.scram_association, self.broker_lookup),
            anonymous_clients=allows_anonymous_clients(self.cluster),
        )
