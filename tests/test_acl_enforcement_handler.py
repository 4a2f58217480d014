"""acl_enforcement/handler.py: the thin Lambda entry points (``on_event``, ``is_complete``)
over cluster_configuration, with the boto3 clients it builds stubbed by botocore's Stubber."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from document_exceptions import aws_clients
from tests.acl_enforcement_asset import load
from tests.acl_enforcement_events import (
    CLUSTER_ARN,
    OPEN_ARN,
    OPERATION_ARN,
    REGION,
    cluster_info,
    event,
    operation_info,
)
from tests.ops_helpers import LambdaContext

handler = load("handler")


@pytest.fixture
def stubbed(monkeypatch, tmp_path):
    """The handler's clients, each from the project's bounded factory, under a Stubber."""
    from tests.ops_helpers import throwaway_aws_credentials  # noqa: PLC0415

    throwaway_aws_credentials(monkeypatch, tmp_path)
    made: dict[str, Stubber] = {}

    def aws_client(service: str):
        client = aws_clients.aws_client(service, REGION)
        made[service] = Stubber(client)
        made[service].activate()
        return client

    monkeypatch.setattr(handler, "aws_client", aws_client)
    return made


def test_the_handler_builds_the_project_s_bounded_clients():
    assert handler.aws_client is aws_clients.aws_client
    config = aws_clients.client_config()
    assert config.connect_timeout + config.read_timeout < 60
    assert config.retries["total_max_attempts"] == aws_clients.ATTEMPTS


def test_on_event_answers_with_the_operation(stubbed, monkeypatch):
    original = handler.aws_client

    def with_answers(service: str):
        client = original(service)
        if service == "kafka":
            stubbed["kafka"].add_response("describe_cluster_v2", cluster_info(OPEN_ARN))
            stubbed["kafka"].add_response(
                "update_cluster_configuration",
                {"ClusterArn": CLUSTER_ARN, "ClusterOperationArn": OPERATION_ARN},
            )
        return client

    monkeypatch.setattr(handler, "aws_client", with_answers)
    answer = handler.on_event(event("Create"), LambdaContext())
    assert answer["Data"] == {"ClusterOperationArn": OPERATION_ARN}
    stubbed["kafka"].assert_no_pending_responses()


def test_is_complete_answers_from_the_operation(stubbed, monkeypatch):
    original = handler.aws_client

    def with_answers(service: str):
        client = original(service)
        stubbed[service].add_response(
            "describe_cluster_operation_v2", operation_info("UPDATE_IN_PROGRESS")
        )
        return client

    monkeypatch.setattr(handler, "aws_client", with_answers)
    request = {**event("Create"), "Data": {"ClusterOperationArn": OPERATION_ARN}}
    assert handler.is_complete(request, LambdaContext()) == {"IsComplete": False}


def test_an_invalid_event_fails_naming_the_field_in_one_line(stubbed):
    request = {**event("Create"), "ResourceProperties": {"ClusterArn": CLUSTER_ARN}}
    with pytest.raises(RuntimeError) as raised:
        handler.on_event(request, LambdaContext())
    assert str(raised.value).startswith("ResourceProperties.AllowEveryoneIfNoAclFound: ")


def test_an_unexpected_aws_error_is_one_line_for_cloudformation(stubbed, monkeypatch):
    original = handler.aws_client

    def refusing(service: str):
        client = original(service)
        if service == "kafka":
            stubbed["kafka"].add_client_error(
                "describe_cluster_v2",
                service_error_code="ForbiddenException",
                service_message="User is not authorized\nto perform kafka:DescribeClusterV2",
                http_status_code=403,
            )
        return client

    monkeypatch.setattr(handler, "aws_client", refusing)
    with pytest.raises(handler.UnexpectedFailureError) as raised:
        handler.on_event(event("Create"), LambdaContext())
    message = str(raised.value)
    assert message.startswith("Unexpected ForbiddenException: ")
    assert "ForbiddenException" in message
    assert "\n" not in message
