"""Step 4: publish through every entry point of the producer Lambda and of the app-side library.

The producer's `handler.handler` is loaded from `lambda_src/handler.py` as Lambda runs it and
invoked with the three event shapes it accepts: a direct invocation (one message, then
`{"messages": [...]}`), an SQS batch (the queue's `ReceiveMessage` answer turned into the
event the Lambda SQS poller sends, with `ReportBatchItemFailures`), and EventBridge events.

SQS runs on moto's in-process mock (`moto.mock_aws`; only SQS is called): the producer queue
the Django app would send to, and the rejected-messages queue where the handler parks the
invalid record with its reason (`REJECTED_QUEUE_URL`). Nothing leaves the machine.

The app-side library runs as a Django service would: `send_document_access_exception`, the
`@kafka_exception_handler` decorator and the model mixin (on a plain class: the mixin needs
no Django), delivered by its background sender over SASL_SSL with SCRAM-SHA-512, as a Django
app does. The producer Lambda runs as its construct deploys it with IAM: inside
`local_kafka.iam_environment` (`KAFKA_AUTH_MODE=iam`, the IAM broker string, no secret), so
it signs in with AWS_MSK_IAM.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import tempfile
import time
import uuid
from types import ModuleType
from typing import Any

from demo import REPO_ROOT
from demo import messages as plan
from demo.console import Console, StepFailedError, shorten
from demo.local_kafka import iam_environment
from demo.topic_step import LambdaContext
from document_exceptions.names import EVENTBRIDGE_DETAIL_TYPE

PRODUCER_HANDLER = REPO_ROOT / "lambda_src" / "handler.py"
PRODUCER_MODULE = "document_exceptions_producer_handler"
PRODUCER_TIMEOUT_MS = 60_000
EVENT_SOURCE = "django_s3_app"
LIBRARY_FLUSH_SECONDS = 30.0
REASON_WIDTH = 84  # room for "field: problem" on one screen line


def load_producer_handler() -> ModuleType:
    """`lambda_src/handler.py` under a unique module name (the asset's own name is `handler`)."""
    existing = sys.modules.get(PRODUCER_MODULE)
    if existing is not None:
        return existing
    # Its sibling modules (publishing, rejected_queue) are top-level in the asset, as here.
    if str(PRODUCER_HANDLER.parent) not in sys.path:
        sys.path.append(str(PRODUCER_HANDLER.parent))
    spec = importlib.util.spec_from_file_location(PRODUCER_MODULE, PRODUCER_HANDLER)
    if spec is None or spec.loader is None:
        raise StepFailedError(f"cannot load {PRODUCER_HANDLER}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[PRODUCER_MODULE] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[PRODUCER_MODULE]
        raise
    return module


def sqs_event(received: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event the Lambda SQS poller builds from `ReceiveMessage`'s messages."""
    records = []
    for message in received:
        attributes = message.get("Attributes", {})
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {
                    "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
                    "SentTimestamp": attributes.get("SentTimestamp", ""),
                    "SenderId": attributes.get("SenderId", ""),
                    "ApproximateFirstReceiveTimestamp": attributes.get(
                        "ApproximateFirstReceiveTimestamp", ""
                    ),
                },
                "messageAttributes": {},
                "md5OfBody": message.get("MD5OfBody")
                or hashlib.md5(  # noqa: S324 - SQS's checksum
                    message["Body"].encode()
                ).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


def eventbridge_event(detail: dict[str, Any], config: Any, bus_name: str) -> dict[str, Any]:
    """An event as the custom bus's rule delivers it to the function."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": EVENTBRIDGE_DETAIL_TYPE,
        "source": EVENT_SOURCE,
        "account": config.account,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": config.region,
        "resources": [f"arn:aws:events:{config.region}:{config.account}:event-bus/{bus_name}"],
        "detail": detail,
    }


class Publishing:
    """Runs step 4; `cleanup` gets what to stop (moto, the producer, the library's sender)."""

    def __init__(
        self, console: Console, config: Any, topic: str, cleanup: Any, broker: Any
    ) -> None:
        self.console = console
        self.broker = broker  # tests.harness.SaslSslBroker
        self.config = config
        self.topic = topic
        self.cleanup = cleanup
        self.handler: Any = None
        self.sqs: Any = None

    # --- set-up -------------------------------------------------------------------------

    def start_sqs_mock(self) -> tuple[str, str, str]:
        """moto's in-process SQS: (producer queue URL, its ARN, rejected-messages queue URL)."""
        from moto import mock_aws  # noqa: PLC0415 - only this step needs moto

        os.environ.setdefault("AWS_DEFAULT_REGION", self.config.region)
        mock = mock_aws()
        mock.start()
        self.cleanup.add("moto SQS", mock.stop)
        import boto3  # noqa: PLC0415

        self.sqs = boto3.client("sqs", region_name=self.config.region)
        prefix = self.config.stack_name
        queue_url = self.sqs.create_queue(QueueName=f"{prefix}-Queue")["QueueUrl"]
        rejected_url = self.sqs.create_queue(QueueName=f"{prefix}-RejectedQueue")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        return queue_url, queue_arn, rejected_url

    def load_handler(self, rejected_url: str) -> None:
        os.environ.update(
            {
                "KAFKA_TOPIC": self.topic,
                "REJECTED_QUEUE_URL": rejected_url,
                "POWERTOOLS_SERVICE_NAME": "document-exceptions-producer",
                "POWERTOOLS_METRICS_NAMESPACE": "DocumentExceptions",
            }
        )
        with self.console.quiet():
            self.handler = load_producer_handler()
        self.console.route_logging()
        self.cleanup.add("producer", self._close_producer)

    def _close_producer(self) -> None:
        with self.console.quiet():
            self.handler.reset()

    def invoke(self, event: Any) -> dict[str, Any]:
        context = LambdaContext(
            function_name=f"{self.config.stack_name}-ProducerFunction",
            timeout_ms=PRODUCER_TIMEOUT_MS,
            memory_limit_in_mb=self.config.producer.memory_mb,
            invoked_function_arn=(
                f"arn:aws:lambda:{self.config.region}:{self.config.account}:function:"
                f"{self.config.stack_name}-ProducerFunction"
            ),
        )
        with self.console.quiet(), iam_environment(self.broker):
            return self.handler.handler(event, context)

    # --- the entry points ----------------------------------------------------------------

    def direct(self) -> None:
        answer = self.invoke(dict(plan.GUIDE_MESSAGE))
        self.expect_published("direct (AWS_MSK_IAM login): the guide's example", answer, 1)
        answer = self.invoke({"messages": [dict(m) for m in plan.DIRECT_BATCH]})
        self.expect_published('direct: {"messages": [3]}', answer, len(plan.DIRECT_BATCH))
        answer = self.invoke(dict(plan.INVALID_EVENT))
        results = answer.get("results", [])
        if answer.get("rejected") != 1 or not results or results[0].get("status") != "rejected":
            raise StepFailedError(f"the invalid event was not rejected: {answer}")
        self.console.detail("direct: one invalid event -> rejected, nothing published:")
        for error in results[0]["errors"]:
            room = REASON_WIDTH - len(error["field"])
            self.console.detail(f"    {error['field']}: {shorten(error['problem'], room)}")

    def sqs_batch(self, queue_url: str, queue_arn: str, rejected_url: str) -> None:
        bodies = [json.dumps(m) for m in plan.SQS_MESSAGES] + [json.dumps(plan.INVALID_EVENT)]
        for body in bodies:
            self.sqs.send_message(QueueUrl=queue_url, MessageBody=body)
        received = self.sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", [])
        if len(received) != len(bodies):
            raise StepFailedError(f"SQS: received {len(received)} of {len(bodies)} messages")
        answer = self.invoke(sqs_event(received, queue_arn, self.config.region))
        failed = {item["itemIdentifier"] for item in answer.get("batchItemFailures", [])}
        for message in received:  # what the poller does: delete all but the reported failures
            if message["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        parked = self.sqs.receive_message(
            QueueUrl=rejected_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if failed:
            raise StepFailedError(f"SQS: batchItemFailures {sorted(failed)}")
        if len(parked) != 1:
            raise StepFailedError(f"SQS: {len(parked)} messages parked, expected 1")
        reason = parked[0]["MessageAttributes"]["reason"]["StringValue"]
        if not reason.startswith("order_req_id: required"):
            raise StepFailedError(f"SQS: the parked message has the wrong reason: {reason!r}")
        self.console.detail(
            f"SQS batch of {len(received)} -> {len(received) - 1} published, invalid one parked "
            "with its reason (moto), no batchItemFailures"
        )

    def eventbridge(self) -> None:
        bus = f"{self.config.stack_name}-EventBus"
        published = 0
        for detail in plan.EVENTBRIDGE_MESSAGES:
            answer = self.invoke(eventbridge_event(dict(detail), self.config, bus))
            if answer.get("published") != 1:
                raise StepFailedError(f"EventBridge: not published: {answer}")
            published += 1
        self.console.detail(
            f"EventBridge ({EVENTBRIDGE_DETAIL_TYPE}): {published} events -> {published} published"
        )

    def library(self) -> None:
        from document_exceptions import app as library  # noqa: PLC0415

        spool = tempfile.TemporaryDirectory(prefix="demo-spool-")  # a fresh spool per run
        self.cleanup.add("spool", spool.cleanup)
        os.environ["DOCUMENT_EXCEPTIONS_SPOOL_DIR"] = spool.name
        library.configure()
        self.cleanup.add("library sender", self._stop_library, library)

        library.send_document_access_exception(**plan.GUIDE_MANUAL_SEND)

        timeout = TimeoutError(f"S3 GetObject {plan.DECORATOR_CALL['s3_key']} timed out")

        @library.kafka_exception_handler(plan.DECORATOR_EXCEPTION_TYPE)
        def download_document(order_req_id: str, s3_key: str, user_id: str) -> None:
            raise timeout

        try:
            download_document(**plan.DECORATOR_CALL)
        except TimeoutError as exc:
            if exc is not timeout:
                raise StepFailedError("the decorator replaced the function's exception") from exc
        else:
            raise StepFailedError("the decorator swallowed the function's exception")

        class OrderRequest(library.DocumentAccessExceptionMixin):
            """Stands in for the guide's Django model (the mixin itself imports no Django)."""

            def __init__(self, order_req_id: str) -> None:
                self.order_req_id = order_req_id

        order = OrderRequest(plan.MIXIN_ORDER)
        try:
            raise PermissionError("User does not have permission to upload to this order")
        except PermissionError as exc:
            accepted = order.handle_document_access_exception(
                s3_key="documents/user123/file.pdf",
                user_id=42,  # the guide passes request.user.id
                exception_type=plan.MIXIN_EXCEPTION_TYPE,
                error_message=str(exc),
                ip_address="192.168.1.100",
                user_agent="Mozilla/5.0...",
                access_type="upload",
            )
        if not accepted:
            raise StepFailedError("the model mixin did not accept the report")

        with self.console.quiet():
            result = library.flush(LIBRARY_FLUSH_SECONDS)
        counters = result.counters
        delivered = counters.get("delivered", 0) + counters.get("replayed", 0)
        self.console.detail(
            f"library (SCRAM): send_document_access_exception, decorator (re-raised), mixin -> "
            f"{delivered} delivered"
        )
        if delivered != 3 or counters.get("spooled", 0) or result.pending:
            raise StepFailedError(f"the library delivered {delivered} of 3: {counters}")

    def _stop_library(self, library: Any) -> None:
        with self.console.quiet():
            library.shutdown(5.0)

    def expect_published(self, label: str, answer: dict[str, Any], count: int) -> None:
        if answer.get("published") != count:
            raise StepFailedError(f"{label}: {answer}")
        where = ", ".join(
            f"p{r['partition']}@{r['offset']}"
            for r in answer["results"]
            if r["status"] == "published"
        )
        self.console.detail(f"{label} -> {count} published ({where})")

    def run(self) -> None:
        queue_url, queue_arn, rejected_url = self.start_sqs_mock()
        self.load_handler(rejected_url)
        front_end = self.broker.front_end
        iam_logins = len(front_end.iam_principals)
        self.direct()
        self.sqs_batch(queue_url, queue_arn, rejected_url)
        self.eventbridge()
        if len(front_end.iam_principals) == iam_logins:
            raise StepFailedError("the producer did not sign in with IAM")
        logins, iam_logins = front_end.logins, len(front_end.iam_principals)
        self.library()
        scram_logins = front_end.logins - logins - (len(front_end.iam_principals) - iam_logins)
        if scram_logins < 1:
            raise StepFailedError("the library did not sign in with SCRAM")
