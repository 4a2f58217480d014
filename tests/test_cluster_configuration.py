"""acl_enforcement/cluster_configuration.py: the ACL enforcement custom resource's decisions,
against botocore's Stubber for MSK and CloudFormation (moto 5.2.5 has neither
UpdateClusterConfiguration nor DescribeClusterOperationV2). Each stub asserts the exact
request, and `assert_no_pending_responses` that every expected call was made."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.stub import Stubber

from tests.acl_enforcement_asset import load
from tests.acl_enforcement_events import (
    CLUSTER_ARN,
    CURRENT_VERSION,
    ENFORCED_ARN,
    OPEN_ARN,
    OPERATION_ARN,
    REGION,
    STACK_ID,
    cluster_info,
    event,
    operation_info,
    properties,
    stack_status,
)

configuration = load("cluster_configuration")
PHYSICAL_ID = f"{CLUSTER_ARN}/allow-everyone-if-no-acl-found"


def client(service: str):
    return boto3.client(
        service,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def kafka() -> Iterator[Stubber]:
    stubber = Stubber(client("kafka"))
    with stubber:
        yield stubber
    stubber.assert_no_pending_responses()


@pytest.fixture
def cloudformation() -> Iterator[Stubber]:
    stubber = Stubber(client("cloudformation"))
    with stubber:
        yield stubber
    stubber.assert_no_pending_responses()


def expect_describe(kafka: Stubber, answer: dict) -> None:
    kafka.add_response("describe_cluster_v2", answer, {"ClusterArn": CLUSTER_ARN})


def expect_update(kafka: Stubber, arn: str, revision: int = 1) -> None:
    kafka.add_response(
        "update_cluster_configuration",
        {"ClusterArn": CLUSTER_ARN, "ClusterOperationArn": OPERATION_ARN},
        {
            "ClusterArn": CLUSTER_ARN,
            "ConfigurationInfo": {"Arn": arn, "Revision": revision},
            "CurrentVersion": CURRENT_VERSION,
        },
    )


def expect_stack(cloudformation: Stubber, status: str) -> None:
    cloudformation.add_response("describe_stacks", stack_status(status), {"StackName": STACK_ID})


def on_event(request, kafka: Stubber, cloudformation: Stubber) -> dict:
    return configuration.on_event(request, kafka.client, cloudformation.client)


def started() -> dict:
    return {"PhysicalResourceId": PHYSICAL_ID, "Data": {"ClusterOperationArn": OPERATION_ARN}}


NOTHING_TO_DO = {"PhysicalResourceId": PHYSICAL_ID, "Data": {}}


def test_create_points_an_open_cluster_at_the_enforced_configuration(kafka, cloudformation):
    expect_describe(kafka, cluster_info(OPEN_ARN))
    expect_update(kafka, ENFORCED_ARN)
    assert on_event(event("Create"), kafka, cloudformation) == started()


def test_update_to_a_new_enforced_revision_applies_it(kafka, cloudformation):
    """A changed broker setting gives both configurations a new revision (and CloudFormation
    gives the cluster the open one): the resource re-applies the enforced one."""
    expect_describe(kafka, cluster_info(OPEN_ARN, revision=2))
    expect_update(kafka, ENFORCED_ARN, revision=2)
    request = event(
        "Update", properties(OpenConfigurationRevision="2", EnforcedConfigurationRevision="2")
    )
    assert on_event(request, kafka, cloudformation) == started()


def test_already_on_the_target_does_nothing(kafka, cloudformation):
    expect_describe(kafka, cluster_info(ENFORCED_ARN, state="UPDATING"))
    assert on_event(event("Update"), kafka, cloudformation) == NOTHING_TO_DO


def test_turning_enforcement_off_re_opens(kafka, cloudformation):
    expect_describe(kafka, cluster_info(ENFORCED_ARN))
    expect_update(kafka, OPEN_ARN)
    request = event("Update", properties(AllowEveryoneIfNoAclFound="true"))
    assert on_event(request, kafka, cloudformation) == started()


def test_off_on_an_open_cluster_does_nothing(kafka, cloudformation):
    expect_describe(kafka, cluster_info(OPEN_ARN))
    request = event("Create", properties(AllowEveryoneIfNoAclFound="true"))
    assert on_event(request, kafka, cloudformation) == NOTHING_TO_DO


def test_a_cluster_that_is_not_active_is_a_one_line_error_naming_its_state(kafka, cloudformation):
    expect_describe(kafka, cluster_info(OPEN_ARN, state="MAINTENANCE"))
    with pytest.raises(configuration.ClusterNotActiveError) as raised:
        on_event(event("Create"), kafka, cloudformation)
    message = str(raised.value)
    assert "document-exceptions-cluster is MAINTENANCE, not ACTIVE" in message
    assert "\n" not in message


def test_delete_re_opens_an_enforced_cluster(kafka, cloudformation):
    expect_stack(cloudformation, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
    expect_describe(kafka, cluster_info(ENFORCED_ARN))
    expect_update(kafka, OPEN_ARN)
    assert on_event(event("Delete"), kafka, cloudformation) == started()


def test_delete_answers_with_the_physical_id_it_was_given(kafka, cloudformation):
    """The Provider framework fails a Delete whose answer changes the physical id."""
    expect_stack(cloudformation, "DELETE_IN_PROGRESS")
    request = {**event("Delete"), "PhysicalResourceId": "an-id-from-before"}
    assert on_event(request, kafka, cloudformation)["PhysicalResourceId"] == "an-id-from-before"


def test_delete_while_the_stack_is_deleted_leaves_the_cluster(kafka, cloudformation):
    expect_stack(cloudformation, "DELETE_IN_PROGRESS")
    assert on_event(event("Delete"), kafka, cloudformation) == NOTHING_TO_DO


def test_delete_of_a_gone_cluster_does_nothing(kafka, cloudformation):
    expect_stack(cloudformation, "UPDATE_IN_PROGRESS")
    kafka.add_client_error(
        "describe_cluster_v2",
        service_error_code="NotFoundException",
        http_status_code=404,
        expected_params={"ClusterArn": CLUSTER_ARN},
    )
    assert on_event(event("Delete"), kafka, cloudformation) == NOTHING_TO_DO


def test_delete_leaves_a_cluster_on_another_configuration(kafka, cloudformation):
    other = OPEN_ARN.replace("open", "hand-made")
    expect_stack(cloudformation, "UPDATE_IN_PROGRESS")
    expect_describe(kafka, cluster_info(other))
    assert on_event(event("Delete"), kafka, cloudformation) == NOTHING_TO_DO


def test_delete_with_another_describe_error_fails(kafka, cloudformation):
    expect_stack(cloudformation, "UPDATE_IN_PROGRESS")
    kafka.add_client_error("describe_cluster_v2", service_error_code="ForbiddenException")
    with pytest.raises(Exception, match="ForbiddenException"):
        on_event(event("Delete"), kafka, cloudformation)


@pytest.mark.parametrize(
    ("state", "complete"),
    [("PENDING", False), ("UPDATE_IN_PROGRESS", False), ("UPDATE_COMPLETE", True)],
)
def test_is_complete_follows_the_operation(state, complete, kafka):
    kafka.add_response(
        "describe_cluster_operation_v2",
        operation_info(state),
        {"ClusterOperationArn": OPERATION_ARN},
    )
    request = {**event("Create"), **started()}
    assert configuration.is_complete(request, kafka.client) == {"IsComplete": complete}


def test_is_complete_without_an_operation_is_complete_at_once(kafka):
    request = {**event("Update"), **NOTHING_TO_DO}
    assert configuration.is_complete(request, kafka.client) == {"IsComplete": True}


def test_a_failed_operation_raises_one_line_with_msk_s_error(kafka):
    error = {"ErrorCode": "InvalidConfiguration", "ErrorString": "too many\npartitions per broker"}
    kafka.add_response("describe_cluster_operation_v2", operation_info("UPDATE_FAILED", error))
    with pytest.raises(configuration.OperationFailedError) as raised:
        configuration.is_complete({**event("Create"), **started()}, kafka.client)
    message = str(raised.value)
    assert "InvalidConfiguration: too many partitions per broker" in message
    assert OPERATION_ARN in message
    assert "\n" not in message


def test_an_unknown_operation_state_is_an_error_naming_it(kafka):
    kafka.add_response("describe_cluster_operation_v2", operation_info("ROLLING_BACK"))
    with pytest.raises(configuration.OperationFailedError, match="'ROLLING_BACK'"):
        configuration.is_complete({**event("Create"), **started()}, kafka.client)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"RequestType": "Replace"}, "RequestType"),
        ({"StackId": ""}, "StackId"),
        ({"ResourceProperties": "x"}, "ResourceProperties"),
        ({"ResourceProperties": properties(ClusterArn=None)}, "ResourceProperties.ClusterArn"),
        (
            {"ResourceProperties": properties(OpenConfigurationArn=None)},
            "ResourceProperties.OpenConfigurationArn",
        ),
        (
            {"ResourceProperties": properties(EnforcedConfigurationRevision="latest")},
            "ResourceProperties.EnforcedConfigurationRevision",
        ),
        (
            {"ResourceProperties": properties(OpenConfigurationRevision="0")},
            "ResourceProperties.OpenConfigurationRevision",
        ),
        (
            {"ResourceProperties": properties(AllowEveryoneIfNoAclFound="no")},
            "ResourceProperties.AllowEveryoneIfNoAclFound",
        ),
    ],
)
def test_an_invalid_event_is_an_error_naming_the_field(change, field, kafka, cloudformation):
    with pytest.raises(configuration.EventError) as raised:
        on_event({**event("Create"), **change}, kafka, cloudformation)
    assert str(raised.value).startswith(f"{field}: ")


def test_the_physical_id_is_derived_from_the_cluster_arn_alone():
    assert configuration.physical_resource_id(CLUSTER_ARN) == PHYSICAL_ID
    enforced = configuration.parse_event(event("Create"))
    reopened = configuration.parse_event(
        event("Update", properties(AllowEveryoneIfNoAclFound="true", KafkaVersion="3.8.x"))
    )
    assert enforced.target.arn == ENFORCED_ARN
    assert reopened.target.arn == OPEN_ARN
