"""`document-exceptions replay` (and ops/replay.py): dead-letter queue back to the queue.

moto 5.2.5 implements the queues, their redrive policy, attributes and messages, but not
message move tasks (StartMessageMoveTask, ListMessageMoveTasks: no such action in
moto/sqs). So: moto for finding the queues and the dry run; botocore's Stubber for the move
tasks, where it also pins the exact requests SQS receives.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from document_exceptions import cli
from document_exceptions.ops.errors import OpsError
from document_exceptions.ops.replay import (
    Queues,
    list_moves,
    preview,
    resolve_queues,
    start_move,
    wait_for_move,
)
from tests.ops_helpers import (
    REGION,
    STACK,
    client_factory,
    cloudformation_with_stack,
    message_fields,
)

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("fake_aws")]

ACCOUNT = "123456789012"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:producer-queue"
DLQ_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:producer-dlq"
QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/producer-queue"
DLQ_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/producer-dlq"


def sqs() -> Any:
    return boto3.client("sqs", region_name=REGION)


def producer_queues(dead_letters: int = 0) -> tuple[str, str]:
    """The producer's queue and dead-letter queue, as the construct makes them (moto)."""
    client = sqs()
    dlq_url = client.create_queue(QueueName="producer-dlq")["QueueUrl"]
    dlq_arn = client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})
    queue_url = client.create_queue(
        QueueName="producer-queue", Attributes={"RedrivePolicy": policy}
    )["QueueUrl"]
    for index in range(dead_letters):
        body = json.dumps(message_fields("dlq", index))
        client.send_message(QueueUrl=dlq_url, MessageBody=body)
    return queue_url, dlq_url


def test_the_dead_letter_queue_is_found_from_the_queues_redrive_policy() -> None:
    queue_url, dlq_url = producer_queues()

    queues = resolve_queues(sqs(), queue_url=queue_url)

    assert queues.queue_arn == QUEUE_ARN
    assert queues.dead_letter_arn == DLQ_ARN
    assert queues.dead_letter_url == dlq_url


def test_a_queue_without_a_dead_letter_queue_is_a_clear_error() -> None:
    producer_queues()
    with pytest.raises(OpsError) as raised:
        resolve_queues(sqs(), queue_url=sqs().get_queue_url(QueueName="producer-dlq")["QueueUrl"])
    assert "has no dead-letter queue (no RedrivePolicy)" in raised.value.message
    assert "QueueUrl" in (raised.value.hint or "")


def test_queues_given_by_arn_are_resolved_to_urls() -> None:
    _, dlq_url = producer_queues()
    queues = resolve_queues(sqs(), queue_arn_=QUEUE_ARN, dead_letter_arn_=DLQ_ARN)
    assert queues == Queues(DLQ_ARN, dlq_url, QUEUE_ARN)


def test_preview_counts_and_samples_without_taking_messages_away() -> None:
    queue_url, dlq_url = producer_queues(dead_letters=7)
    queues = resolve_queues(sqs(), queue_url=queue_url)

    seen = preview(sqs(), queues, sample=3)

    assert seen.approximate == 7
    assert 1 <= len(seen.sample) <= 3
    assert {message.order_req_id for message in seen.sample} <= {f"dlq-{i}" for i in range(7)}
    assert {message.exception_type for message in seen.sample} == {"access_denied"}
    remaining = sqs().get_queue_attributes(
        QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    assert remaining == "7"


def test_dry_run_from_the_stack_shows_count_and_ids_and_moves_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    queue_url, dlq_url = producer_queues(dead_letters=4)
    cloudformation = cloudformation_with_stack(
        {
            "ProducerQueueUrl0A1B2C3D": queue_url,
            "ProducerRejectedQueueUrl9F8E7D6C": "https://sqs.example/rejected",
        }
    )
    argv = ["replay", "--stack", STACK, "--dry-run", "--sample", "10"]

    code = cli.main(argv, client_factory=client_factory(cloudformation))

    out = capsys.readouterr().out
    assert code == 0
    assert f"dead-letter queue: {DLQ_ARN}" in out
    assert f"back to queue:     {QUEUE_ARN}" in out
    assert "would move about 4 messages" in out
    assert "dry run: nothing moved" in out
    assert out.count("type access_denied") >= 1
    attributes = sqs().get_queue_attributes(
        QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "4"


def test_an_empty_dead_letter_queue_starts_no_task(capsys: pytest.CaptureFixture[str]) -> None:
    queue_url, _ = producer_queues(dead_letters=0)
    # moto has no StartMessageMoveTask: were one started, this would fail.
    assert cli.main(["replay", "--queue-url", queue_url, "--region", REGION]) == 0
    assert "nothing to replay" in capsys.readouterr().out


def test_the_region_comes_from_the_queue_url_when_none_is_configured(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    queue_url, _ = producer_queues(dead_letters=2)
    monkeypatch.delenv("AWS_DEFAULT_REGION")  # and the AWS config file is empty (fake_aws)
    monkeypatch.delenv("AWS_REGION", raising=False)

    assert cli.main(["replay", "--queue-url", queue_url, "--dry-run"]) == 0

    out = capsys.readouterr().out
    assert f"dead-letter queue: {DLQ_ARN}" in out
    assert "would move about 2 messages" in out


def no_clients(service: str) -> Any:
    raise AssertionError(f"a {service} client was made before the arguments were checked")


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--dry-run"], "which queue? no producer queue given"),
        (["--queue-arn", "producer-q"], "--queue-arn: 'producer-q' is not an SQS queue ARN"),
        (["--queue-url", "sqs/producer-q"], "--queue-url: 'sqs/producer-q' is not a queue URL"),
        (["--queue-url", QUEUE_URL, "--region", "us-east-1"],
         f"--region us-east-1, but --queue-url is in {REGION}"),
        (["--queue-url", QUEUE_URL, "--dlq-arn", "arn:aws:sqs:us-east-1:123456789012:dlq"],
         "the queues are in different regions"),
    ],
    ids=["no-queue", "bad-arn", "bad-url", "other-region", "queues-in-two-regions"],
)  # fmt: skip
def test_bad_arguments_are_usage_errors_found_before_any_client(
    argv: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["replay", *argv], client_factory=no_clients) == 2
    err = capsys.readouterr().err
    assert err.startswith("document-exceptions replay: error: ")
    assert problem in err


@pytest.mark.usefixtures("no_aws_region")
def test_no_queue_and_no_region_is_a_usage_error_not_a_region_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["replay", "--status"]) == 2
    assert "which queue?" in capsys.readouterr().err


def test_a_sample_beyond_what_sqs_returns_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["replay", "--queue-url", QUEUE_URL, "--dry-run", "--sample", "11"])
    assert exited.value.code == 2
    assert "11 is not between 0 and 10" in capsys.readouterr().err


def test_dry_run_prints_dead_letter_fields_with_control_characters_escaped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    queue_url, dlq_url = producer_queues()
    body = json.dumps(message_fields("x", 0, order_req_id="\x1b[2J\x1b[31mFAKE OK\x07"))
    sqs().send_message(QueueUrl=dlq_url, MessageBody=body)

    assert cli.main(["replay", "--queue-url", queue_url, "--dry-run"]) == 0

    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "order \\x1b[2J\\x1b[31mFAKE OK\\x07" in out


# --- message move tasks (Stubber) -------------------------------------------------------------

QUEUES = Queues(DLQ_ARN, DLQ_URL, QUEUE_ARN)
STARTED_MS = int(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp() * 1000)


def stubbed() -> tuple[Any, Stubber]:
    client = sqs()
    stubber = Stubber(client)
    stubber.activate()
    return client, stubber


def task(status: str, moved: int, total: int = 12, **extra: Any) -> dict[str, Any]:
    return {
        "Status": status,
        "SourceArn": DLQ_ARN,
        "DestinationArn": QUEUE_ARN,
        "ApproximateNumberOfMessagesMoved": moved,
        "ApproximateNumberOfMessagesToMove": total,
        "StartedTimestamp": STARTED_MS,
        **extra,
    }


def test_start_move_asks_sqs_to_move_from_the_dlq_to_the_queue() -> None:
    client, stubber = stubbed()
    stubber.add_response(
        "start_message_move_task",
        {"TaskHandle": "handle-1"},
        {"SourceArn": DLQ_ARN, "DestinationArn": QUEUE_ARN, "MaxNumberOfMessagesPerSecond": 50},
    )
    assert start_move(client, QUEUES, max_per_second=50) == "handle-1"
    stubber.assert_no_pending_responses()


def test_a_second_task_while_one_runs_is_refused_with_a_pointer_to_status() -> None:
    client, stubber = stubbed()
    stubber.add_client_error(
        "start_message_move_task",
        service_error_code="AWS.SimpleQueueService.UnsupportedOperation",
        service_message="There is already a task running. Only one active task is allowed.",
    )
    with pytest.raises(OpsError) as raised:
        start_move(client, QUEUES)
    assert "already a task running" in raised.value.message
    assert "replay --status" in (raised.value.hint or "")


def test_wait_polls_until_the_task_finishes() -> None:
    client, stubber = stubbed()
    for status, moved in (("RUNNING", 3), ("RUNNING", 9), ("COMPLETED", 12)):
        stubber.add_response(
            "list_message_move_tasks",
            {"Results": [task(status, moved, TaskHandle="h") if status == "RUNNING"
                         else task(status, moved)]},
            {"SourceArn": DLQ_ARN, "MaxResults": 1},
        )  # fmt: skip
    progress: list[int] = []
    slept: list[float] = []

    finished = wait_for_move(
        client,
        QUEUES,
        timeout_s=60,
        poll_s=2,
        on_progress=lambda t: progress.append(t["ApproximateNumberOfMessagesMoved"]),
        clock=lambda: 0.0,
        sleep=slept.append,
    )

    assert finished["Status"] == "COMPLETED"
    assert progress == [3, 9, 12]
    assert slept == [2, 2]
    stubber.assert_no_pending_responses()


def test_wait_gives_up_after_its_timeout_leaving_the_task_running() -> None:
    client, stubber = stubbed()
    for _ in range(3):
        stubber.add_response(
            "list_message_move_tasks", {"Results": [task("RUNNING", 1, TaskHandle="h")]}
        )
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(OpsError) as raised:
        wait_for_move(client, QUEUES, timeout_s=10, poll_s=5, clock=lambda: now[0], sleep=sleep)
    assert "still RUNNING after 10 s" in raised.value.message
    assert "keeps running" in (raised.value.hint or "")


def test_replay_with_wait_runs_the_whole_sequence(capsys: pytest.CaptureFixture[str]) -> None:
    client, stubber = stubbed()
    stubber.add_response(
        "get_queue_attributes",
        {"Attributes": {"QueueArn": QUEUE_ARN}},
        {"QueueUrl": QUEUE_URL, "AttributeNames": ["QueueArn"]},
    )
    stubber.add_response(
        "get_queue_attributes",
        {"Attributes": {"RedrivePolicy": json.dumps({"deadLetterTargetArn": DLQ_ARN})}},
        {"QueueUrl": QUEUE_URL, "AttributeNames": ["RedrivePolicy"]},
    )
    stubber.add_response(
        "get_queue_url",
        {"QueueUrl": DLQ_URL},
        {"QueueName": "producer-dlq", "QueueOwnerAWSAccountId": ACCOUNT},
    )
    stubber.add_response(
        "get_queue_attributes",
        {"Attributes": {"ApproximateNumberOfMessages": "12",
                        "ApproximateNumberOfMessagesNotVisible": "0"}},
        {"QueueUrl": DLQ_URL, "AttributeNames": ["ApproximateNumberOfMessages",
                                                 "ApproximateNumberOfMessagesNotVisible"]},
    )  # fmt: skip
    stubber.add_response(
        "start_message_move_task",
        {"TaskHandle": "handle-7"},
        {"SourceArn": DLQ_ARN, "DestinationArn": QUEUE_ARN},
    )
    stubber.add_response(
        "list_message_move_tasks", {"Results": [task("RUNNING", 5, TaskHandle="handle-7")]}
    )
    stubber.add_response("list_message_move_tasks", {"Results": [task("COMPLETED", 12)]})
    argv = ["replay", "--queue-url", QUEUE_URL, "--wait", "--poll-interval", "0.01"]

    code = cli.main(argv, client_factory=client_factory(None, sqs=client))

    out = capsys.readouterr().out
    assert code == 0
    assert "started message move task for about 12 messages" in out
    assert "task handle: handle-7" in out
    assert "RUNNING: 5 of 12 moved" in out
    assert "COMPLETED: 12 of 12 moved (started 2026-01-02T03:04:05+00:00)" in out
    stubber.assert_no_pending_responses()


def test_a_failed_task_is_a_failure(capsys: pytest.CaptureFixture[str]) -> None:
    client, stubber = stubbed()
    stubber.add_response(
        "get_queue_attributes", {"Attributes": {"ApproximateNumberOfMessages": "2"}}
    )
    stubber.add_response("start_message_move_task", {"TaskHandle": "h"})
    reason = "AWS.SimpleQueueService.KMS.AccessDenied"
    stubber.add_response(
        "list_message_move_tasks", {"Results": [task("FAILED", 0, 2, FailureReason=reason)]}
    )
    argv = ["replay", "--queue-arn", QUEUE_ARN, "--dlq-arn", DLQ_ARN, "--dlq-url", DLQ_URL,
            "--wait", "--poll-interval", "0.01"]  # fmt: skip

    assert cli.main(argv, client_factory=client_factory(None, sqs=client)) == 1
    assert f"FAILED: 0 of 2 moved (started 2026-01-02T03:04:05+00:00); failure: {reason}" in (
        capsys.readouterr().out
    )


def test_status_lists_recent_tasks(capsys: pytest.CaptureFixture[str]) -> None:
    client, stubber = stubbed()
    stubber.add_response(
        "list_message_move_tasks",
        {"Results": [task("RUNNING", 4, TaskHandle="h"), task("COMPLETED", 30, 30)]},
        {"SourceArn": DLQ_ARN, "MaxResults": 10},
    )
    assert list_moves(client, QUEUES)[0]["Status"] == "RUNNING"

    stubber.add_response("list_message_move_tasks", {"Results": []})
    argv = ["replay", "--queue-arn", QUEUE_ARN, "--dlq-arn", DLQ_ARN, "--dlq-url", DLQ_URL,
            "--status"]  # fmt: skip
    assert cli.main(argv, client_factory=client_factory(None, sqs=client)) == 0
    assert "no message move tasks" in capsys.readouterr().out
    stubber.assert_no_pending_responses()


BY_ARN = ["--queue-arn", QUEUE_ARN, "--dlq-arn", DLQ_ARN, "--dlq-url", DLQ_URL]


def cancel(client: Any) -> int:
    """`replay --cancel` with the queues given by ARN and this (stubbed) SQS client."""
    return cli.main(
        ["replay", *BY_ARN, "--cancel"], client_factory=client_factory(None, sqs=client)
    )


def test_cancel_stops_the_running_task_and_says_how_many_had_moved(
    capsys: pytest.CaptureFixture[str],
) -> None:
    client, stubber = stubbed()
    stubber.add_response(
        "list_message_move_tasks",
        {"Results": [task("RUNNING", 5, TaskHandle="handle-9"), task("CANCELLED", 3, 30)]},
        {"SourceArn": DLQ_ARN, "MaxResults": 10},
    )
    stubber.add_response(
        "cancel_message_move_task",
        {"ApproximateNumberOfMessagesMoved": 6},
        {"TaskHandle": "handle-9"},
    )

    code = cancel(client)

    out = capsys.readouterr().out
    assert code == 0
    assert "cancelling RUNNING: 5 of 12 moved" in out
    assert "cancelled task handle-9: 6 of 12 messages had already moved back to the queue" in out
    assert "replay --status" in out
    stubber.assert_no_pending_responses()


def test_cancel_with_no_running_task_has_nothing_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    client, stubber = stubbed()
    # No cancel_message_move_task is stubbed: were one sent, the Stubber would fail the command.
    stubber.add_response(
        "list_message_move_tasks",
        {"Results": [task("CANCELLING", 2), task("COMPLETED", 12)]},
        {"SourceArn": DLQ_ARN, "MaxResults": 10},
    )

    code = cancel(client)

    assert code == 0
    assert "no message move task is running: nothing to cancel" in capsys.readouterr().out
    stubber.assert_no_pending_responses()


def test_a_cancel_sqs_refuses_is_a_failure_naming_the_task_and_the_permission(
    capsys: pytest.CaptureFixture[str],
) -> None:
    client, stubber = stubbed()
    stubber.add_response(
        "list_message_move_tasks", {"Results": [task("RUNNING", 1, TaskHandle="handle-3")]}
    )
    stubber.add_client_error(
        "cancel_message_move_task",
        service_error_code="AccessDenied",
        service_message="not authorized to perform: sqs:CancelMessageMoveTask",
        http_status_code=403,
        expected_params={"TaskHandle": "handle-3"},
    )

    code = cancel(client)

    err = capsys.readouterr().err
    assert code == 1
    assert (
        "replay: error: cannot cancel the message move task handle-3: AccessDenied: "
        "not authorized to perform: sqs:CancelMessageMoveTask"
    ) in err
    assert "check: " in err
    assert "sqs:CancelMessageMoveTask (for --cancel)" in err
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize("other", ["--dry-run", "--status"])
def test_cancel_excludes_the_other_actions(other: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["replay", *BY_ARN, "--cancel", other])
    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
