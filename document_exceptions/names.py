"""Names shared by the runtime and the constructs that deploy it, each defined once here.

The producer Lambda reads these variables and emits under these names; `stacks/` imports
them to set the function's environment and to wire its rule and alarms, so a rename in one
place cannot leave the other behind.
"""

from __future__ import annotations

# Powertools reads these two variables for the service (logs, metrics) and metrics namespace.
SERVICE_NAME_VARIABLE = "POWERTOOLS_SERVICE_NAME"
METRICS_NAMESPACE_VARIABLE = "POWERTOOLS_METRICS_NAMESPACE"
LOG_LEVEL_VARIABLE = "LOG_LEVEL"
SERVICE_NAME = "document-exceptions-producer"
METRICS_NAMESPACE = "DocumentExceptions"

# The queue where the producer parks messages that can never be published.
REJECTED_QUEUE_URL_VARIABLE = "REJECTED_QUEUE_URL"
# `PRODUCER_<SETTING>` overrides one `ProducerSettings` field (`PRODUCER_LINGER_MS=10`).
PRODUCER_VARIABLE_PREFIX = "PRODUCER_"

# EventBridge events carrying a message in `detail` have this detail-type.
EVENTBRIDGE_DETAIL_TYPE = "DocumentAccessException"

# How the AWS-side clients (producer Lambda, topic custom resource, operator commands given
# `--stack`) authenticate to MSK: "iam" (SASL AWS_MSK_IAM on 9098, no secret) or "scram".
KAFKA_AUTH_VARIABLE = "KAFKA_AUTH_MODE"
KAFKA_AUTH_IAM = "iam"
KAFKA_AUTH_SCRAM = "scram"

# The principal MSK's brokers have towards each other on a SASL/SCRAM cluster's
# REPLICATION_SECURE listener (AWS knowledge center, "msk-sasl-scram-issues"). The ACL custom
# resource grants it the brokers' ACLs (topic_bootstrap/topic_acls.py); the constructs put it
# in the template (stacks/kafka_acls.py). Safe only while no client can be ANONYMOUS.
BROKER_PRINCIPAL = "User:ANONYMOUS"

# The custom resource types the topic bootstrap handler serves (topic_bootstrap/handler.py
# dispatches on them; stacks/kafka_topic.py and stacks/kafka_acls.py declare them).
TOPIC_RESOURCE_TYPE = "Custom::KafkaTopic"
ACL_RESOURCE_TYPE = "Custom::KafkaAcls"

# The custom resource that points the cluster at the configuration with
# `allow.everyone.if.no.acl.found=false` after the Kafka ACLs exist (acl_enforcement/,
# stacks/acl_enforcement.py): its type, the properties the construct sets and the handler
# reads, the suffix of its physical id (the cluster's ARN before it), and the Data key that
# carries MSK's operation from `on_event` to `is_complete`.
ACL_ENFORCEMENT_RESOURCE_TYPE = "Custom::KafkaAclEnforcement"
ENFORCEMENT_PHYSICAL_ID_SUFFIX = "/allow-everyone-if-no-acl-found"
ENFORCEMENT_CLUSTER_ARN = "ClusterArn"
ENFORCEMENT_KAFKA_VERSION = "KafkaVersion"
ENFORCEMENT_OPEN_ARN = "OpenConfigurationArn"
ENFORCEMENT_OPEN_REVISION = "OpenConfigurationRevision"
ENFORCEMENT_ENFORCED_ARN = "EnforcedConfigurationArn"
ENFORCEMENT_ENFORCED_REVISION = "EnforcedConfigurationRevision"
ENFORCEMENT_ALLOW_EVERYONE = "AllowEveryoneIfNoAclFound"
ENFORCEMENT_OPERATION_ARN = "ClusterOperationArn"
