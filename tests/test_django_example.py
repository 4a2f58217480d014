"""The example Django project (examples/django_project) with Django's test client.

Against the real local broker and a real HTTP server on 127.0.0.1 standing in for the
document-orders API. Django is set up once for this module with the example's settings;
the library is configured as the example configures it (environment variables over Django
settings over its config.json).
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from document_exceptions.app import DocumentOrdersClientError, api, kafka_exception_handler
from document_exceptions.app.settings import AppSettings
from tests.app_helpers import FAST
from tests.harness import free_port
from tests.orders_api_server import OrdersApiServer
from tests.playground_process import clean_environment, running_playground

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "examples" / "django_project"
USER_AGENT = "Mozilla/5.0 (example test)"


class Example:
    """The running example: Django set up, its test database, the broker topic, the API."""

    def __init__(self, broker: Any, topic: str, orders_api: OrdersApiServer) -> None:
        self.broker = broker
        self.topic = topic
        self.orders_api = orders_api
        self.settings: AppSettings | None = None

    def reported(self, order_req_id: str, expected: int = 1) -> list[dict[str, Any]]:
        """Messages on the topic for one order, after flushing the library."""
        assert api.flush(10).pending == 0
        found: list[dict[str, Any]] = []
        for _ in range(3):
            records = self.broker.read_all(self.topic, timeout=5)
            found = [
                message
                for message in (json.loads(record.value) for record in records)
                if message["order_req_id"] == order_req_id
            ]
            if len(found) >= expected:
                break
        return found


@pytest.fixture(scope="module")
def example(kafka_broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Example]:
    topic = kafka_broker.create_topic(f"django-example-{uuid.uuid4().hex[:8]}")
    work = tmp_path_factory.mktemp("django-example")
    with OrdersApiServer() as orders_api, pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(PROJECT))
        patch.setenv("DJANGO_SETTINGS_MODULE", "example_project.settings")
        patch.setenv("EXAMPLE_MEDIA_ROOT", str(work / "media"))
        patch.setenv("KAFKA_BOOTSTRAP_SERVERS", json.dumps([kafka_broker.bootstrap]))
        patch.setenv("KAFKA_TOPIC", topic)
        patch.setenv("DOCUMENT_EXCEPTIONS_SPOOL_DIR", str(work / "spool"))
        patch.setenv("DOCUMENT_ORDERS_API_URL", orders_api.url)
        for name, value in FAST.items():
            patch.setenv(name, value)

        import django  # noqa: PLC0415 - only this module needs Django set up
        from django.db import connection  # noqa: PLC0415
        from django.test.utils import (  # noqa: PLC0415
            setup_test_environment,
            teardown_test_environment,
        )

        django.setup()
        running = Example(kafka_broker, topic, orders_api)
        # Django's ready() configured the library once per process; earlier test modules may
        # have reconfigured it, so read the settings again as the example would at start-up.
        running.settings = api.configure()
        setup_test_environment()
        old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
        try:
            yield running
        finally:
            connection.creation.destroy_test_db(old_name, verbosity=0)
            teardown_test_environment()
            api.shutdown(timeout=2)


@pytest.fixture
def order(example: Example) -> Any:
    """A new order owned by a new user; ``order.owner`` is logged in on ``order.client``."""
    from attachments.models import OrderRequest  # noqa: PLC0415
    from django.contrib.auth import get_user_model  # noqa: PLC0415
    from django.test import Client  # noqa: PLC0415

    user_model = get_user_model()
    owner = user_model.objects.create_user(f"owner-{uuid.uuid4().hex[:8]}")
    created = OrderRequest.objects.create(order_req_id=f"SB{uuid.uuid4().hex[:8]}", owner=owner)
    created.client = Client(HTTP_USER_AGENT=USER_AGENT, raise_request_exception=False)
    created.client.force_login(owner)
    example.orders_api.requests.clear()
    example.orders_api.script.clear()
    return created


def other_client() -> tuple[Any, Any]:
    from django.contrib.auth import get_user_model  # noqa: PLC0415
    from django.test import Client  # noqa: PLC0415

    other = get_user_model().objects.create_user(f"other-{uuid.uuid4().hex[:8]}")
    client = Client(HTTP_USER_AGENT=USER_AGENT, raise_request_exception=False)
    client.force_login(other)
    return other, client


def upload(
    client: Any, order_req_id: str, name: str = "contract.pdf", data: bytes = b"%PDF"
) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: PLC0415

    return client.post(
        f"/orders/{order_req_id}/documents/",
        {"document": SimpleUploadedFile(name, data, content_type="application/pdf")},
    )


@pytest.mark.timeout(60)
def test_the_example_reads_env_over_django_settings_over_config_json(example: Example) -> None:
    settings = example.settings
    assert settings is not None
    assert settings.connection.bootstrap_servers == (example.broker.bootstrap,)  # env
    assert settings.contract.topic == example.topic  # env
    assert settings.contract.default_source == "django_s3_app"  # Django settings
    assert settings.orders_api.url == example.orders_api.url  # env over Django settings
    assert settings.connection.security_protocol == "PLAINTEXT"  # config.json's ""


@pytest.mark.timeout(60)
def test_an_upload_stores_the_document_and_posts_the_access(example: Example, order: Any) -> None:
    response = upload(order.client, order.order_req_id, data=b"%PDF-1.7 contract")
    assert response.status_code == 201, response.content
    s3_key = response.json()["s3_key"]
    assert s3_key == f"documents/{order.order_req_id}/contract.pdf"
    assert (Path(os.environ["EXAMPLE_MEDIA_ROOT"]) / s3_key).read_bytes() == b"%PDF-1.7 contract"

    [posted] = example.orders_api.requests
    body = posted.body
    assert body["order_req_id"] == order.order_req_id
    assert body["s3_key"] == s3_key
    assert body["file_name"] == "contract.pdf"
    assert body["user_id"] == str(order.owner.id)
    assert body["source"] == "django_s3_app"
    assert body["access_type"] == "upload"
    assert body["ip_address"] == "127.0.0.1"
    assert body["user_agent"] == USER_AGENT
    assert datetime.fromisoformat(body["accessed_at"]).tzinfo is not None
    assert example.reported(order.order_req_id, expected=0) == []


@pytest.mark.timeout(60)
def test_an_upload_by_someone_else_is_forbidden_and_reported_once_as_access_denied(
    example: Example, order: Any
) -> None:
    other, client = other_client()
    response = upload(client, order.order_req_id)
    assert response.status_code == 403
    assert example.orders_api.requests == []

    [message] = example.reported(order.order_req_id)
    assert message["exception_type"] == "access_denied"
    assert message["user_id"] == str(other.id)
    assert message["s3_key"] == f"documents/{order.order_req_id}/contract.pdf"
    assert message["access_type"] == "upload"
    assert message["ip_address"] == "127.0.0.1"
    assert message["user_agent"] == USER_AGENT
    assert message["http_status_code"] == 403
    assert "PermissionError" in message["stack_trace"]


@pytest.mark.timeout(60)
def test_a_download_returns_the_document_and_posts_the_access(example: Example, order: Any) -> None:
    s3_key = upload(order.client, order.order_req_id, data=b"%PDF-1.7 body").json()["s3_key"]
    response = order.client.get(f"/orders/{order.order_req_id}/documents/{s3_key}")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"%PDF-1.7 body"
    assert [r.body["access_type"] for r in example.orders_api.requests] == ["upload", "download"]
    assert example.reported(order.order_req_id, expected=0) == []


@pytest.mark.timeout(60)
def test_a_missing_document_is_404_and_reported_once_as_file_not_found(
    example: Example, order: Any
) -> None:
    s3_key = f"documents/{order.order_req_id}/missing.pdf"
    response = order.client.get(f"/orders/{order.order_req_id}/documents/{s3_key}")
    assert response.status_code == 404
    [message] = example.reported(order.order_req_id)
    assert message["exception_type"] == "file_not_found"
    assert message["http_status_code"] == 404
    assert message["file_name"] == "missing.pdf"
    assert message["user_id"] == str(order.owner.id)


@pytest.mark.timeout(60)
def test_a_document_orders_5xx_is_retried_and_the_upload_succeeds(
    example: Example, order: Any
) -> None:
    example.orders_api.respond_with(503)
    response = upload(order.client, order.order_req_id)
    assert response.status_code == 201
    attempts = example.orders_api.requests
    assert len(attempts) == 2
    assert attempts[0].headers["Idempotency-Key"] == attempts[1].headers["Idempotency-Key"]


@pytest.mark.timeout(60)
def test_a_document_orders_4xx_escapes_the_download_view_unchanged_and_is_reported(
    example: Example, order: Any
) -> None:
    from django.test import Client  # noqa: PLC0415

    s3_key = upload(order.client, order.order_req_id).json()["s3_key"]
    example.orders_api.respond_with(422)
    client = Client(HTTP_USER_AGENT=USER_AGENT)  # re-raises the view's exception
    client.force_login(order.owner)
    with pytest.raises(DocumentOrdersClientError) as raised:
        client.get(f"/orders/{order.order_req_id}/documents/{s3_key}")
    assert raised.value.status == 422
    assert len(example.orders_api.requests) == 2  # the upload, then one download attempt

    [message] = example.reported(order.order_req_id)
    assert message["exception_type"] == "document_download_error"
    assert message["error_message"] == str(raised.value)
    assert message["s3_key"] == s3_key
    assert message["user_id"] == str(order.owner.id)
    assert message["access_type"] == "download"
    assert message["user_agent"] == USER_AGENT
    assert message["additional_context"]["exception_class"].endswith("DocumentOrdersClientError")


@pytest.mark.timeout(60)
def test_the_decorator_on_a_class_based_view_method_reads_self_request(
    example: Example, order: Any
) -> None:
    from django.test import RequestFactory  # noqa: PLC0415
    from django.views import View  # noqa: PLC0415

    class PreviewView(View):
        @kafka_exception_handler("document_preview_error", access_type="view")
        def get(self, request: Any, order_req_id: str, s3_key: str) -> Any:
            raise ValueError("preview renderer crashed")

    request = RequestFactory().get("/preview", HTTP_USER_AGENT=USER_AGENT)
    request.user = order.owner
    with pytest.raises(ValueError, match="preview renderer crashed"):
        PreviewView.as_view()(request, order_req_id=order.order_req_id, s3_key="documents/p.pdf")
    [message] = example.reported(order.order_req_id)
    assert message["exception_type"] == "document_preview_error"
    assert message["user_id"] == str(order.owner.id)
    assert message["s3_key"] == "documents/p.pdf"
    assert message["access_type"] == "view"


@pytest.mark.timeout(60)
def test_a_malformed_setting_stops_django_at_start_up_naming_the_variable(
    tmp_path: Path,
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "DOCUMENT_"))},
        "PYTHONPATH": os.pathsep.join([str(PROJECT), str(ROOT)]),
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "DOCUMENT_EXCEPTIONS_SPOOL_DIR": str(tmp_path),
        "KAFKA_BOOTSTRAP_SERVERS": "b-1.example:9096",
    }
    completed = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode != 0
    assert "ConfigurationError: KAFKA_BOOTSTRAP_SERVERS: not valid JSON" in completed.stderr


@pytest.mark.timeout(60)
def test_the_model_mixin_never_raises_and_marks_the_handled_exception(
    example: Example, order: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from document_exceptions.app.decorator import already_reported  # noqa: PLC0415

    before = api.stats().get("parked_reports", 0)
    handled = PermissionError("not yours")
    try:
        raise handled
    except PermissionError:
        refused = order.handle_document_access_exception(
            s3_key="", user_id=order.owner.id, exception_type="access_denied", error_message="x"
        )
        accepted = order.handle_document_access_exception(
            s3_key="documents/m.pdf",
            user_id=order.owner.id,
            exception_type="access_denied",
            error_message=str(handled),
        )
    assert already_reported(handled)
    assert (refused, accepted) == (False, True)
    assert api.stats()["parked_reports"] == before + 1  # refused: parked, not lost
    assert "s3_key: must not be empty" in caplog.text
    [message] = example.reported(order.order_req_id)
    assert message["s3_key"] == "documents/m.pdf"
    assert message["stack_trace"].rstrip().endswith("PermissionError: not yours")


# ---------------------------------------------------------------------------------------
# The example's README, end to end: `make broker` (the playground), then the documented
# `manage.py` steps in subprocesses, a real `runserver`, a browser's requests, and the
# message read back with `document-exceptions tail`.
# ---------------------------------------------------------------------------------------


def example_readme_steps() -> list[list[str]]:
    """The `python manage.py ...` lines of examples/django_project/README.md, in order."""
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.DOTALL)
    lines = [line for block in blocks for line in block.splitlines()]
    assert "make broker" in lines
    assert lines.count("source .demo/broker.env") == 2
    assert "document-exceptions tail" in lines
    return [shlex.split(line)[2:] for line in lines if line.startswith("python manage.py ")]


class Browser:
    """Cookies, CSRF token and multipart uploads over urllib, as a browser sends them."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def csrf_token(self) -> str:
        return next(c.value for c in self.cookies if c.name == "csrftoken")

    def request(
        self, path: str, data: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, str, bytes]:
        request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only
            self.base + path,
            data=data,
            headers={"Referer": self.base + "/", "User-Agent": USER_AGENT, **(headers or {})},
        )
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.url, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.url, error.read()

    def log_in(self, username: str, password: str) -> tuple[int, str, bytes]:
        self.request("/accounts/login/")
        form = urllib.parse.urlencode(
            {"username": username, "password": password, "csrfmiddlewaretoken": self.csrf_token()}
        ).encode()
        return self.request("/accounts/login/", form)

    def upload(self, path: str, name: str, content: bytes) -> tuple[int, str, bytes]:
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="document"; '
                f'filename="{name}"\r\nContent-Type: application/pdf\r\n\r\n'
            ).encode()
            + content
            + f"\r\n--{boundary}--\r\n".encode()
        )
        headers = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "X-CSRFToken": self.csrf_token(),
        }
        return self.request(path, body, headers)


def wait_for_port(port: int, process: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"runserver exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise AssertionError(f"runserver did not listen on {port} within {timeout} s")


def tail_messages(env: dict[str, str]) -> list[dict[str, Any]]:
    tail = subprocess.run(
        [str(Path(sys.executable).parent / "document-exceptions"), "tail", "--from-beginning",
         "--to-end", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert tail.returncode == 0, tail.stdout + tail.stderr
    return [json.loads(line) for line in tail.stdout.splitlines() if line.strip()]


@pytest.mark.timeout(180)
def test_the_readme_steps_run_the_example_and_its_message_shows_in_tail(tmp_path: Path) -> None:
    steps = example_readme_steps()
    assert steps == [["migrate"], ["create_example_order"], ["runserver"]]
    port = free_port()
    with running_playground(tmp_path) as playground:
        env = {
            **clean_environment(),
            **playground.exports,
            "PYTHONPATH": str(ROOT),
            "EXAMPLE_DATABASE": str(tmp_path / "db.sqlite3"),
            "EXAMPLE_MEDIA_ROOT": str(tmp_path / "media"),
            "DOCUMENT_EXCEPTIONS_SPOOL_DIR": str(tmp_path / "spool"),
            "DOCUMENT_ORDERS_API_URL": f"http://127.0.0.1:{port}/api/document-orders/",
        }
        manage = [sys.executable, "manage.py"]
        for step in steps[:-1]:
            done = subprocess.run(
                [*manage, *step], cwd=PROJECT, env=env, capture_output=True, text=True,
                timeout=120, check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stdout + done.stderr
        assert "user alice (id 1) created; order SB1029435 is theirs" in done.stdout

        server = subprocess.Popen(
            [*manage, *steps[-1], f"127.0.0.1:{port}", "--noreload"],
            cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            wait_for_port(port, server)
            browser = Browser(f"http://127.0.0.1:{port}")
            status, landed, page = browser.log_in("alice", "example-only-password")
            assert (status, landed) == (200, f"{browser.base}/orders/SB1029435/"), page
            assert b"Logged in as alice" in page

            status, _, body = browser.upload("/orders/SB1029435/documents/", "a.pdf", b"%PDF-1")
            assert status == 201, body
            s3_key = json.loads(body)["s3_key"]
            status, _, content = browser.request(f"/orders/SB1029435/documents/{s3_key}")
            assert (status, content) == (200, b"%PDF-1")
            missing = "documents/SB1029435/missing.pdf"
            assert missing.encode() in browser.request("/orders/SB1029435/")[2]
            assert browser.request(f"/orders/SB1029435/documents/{missing}")[0] == 404

            found: list[dict[str, Any]] = []
            deadline = time.monotonic() + 30
            while not found and time.monotonic() < deadline:
                found = [m for m in tail_messages(env) if m["order_req_id"] == "SB1029435"]
        finally:
            server.terminate()
            server_output, _ = server.communicate(timeout=15)

    [message] = found
    assert message["exception_type"] == "file_not_found"
    assert message["s3_key"] == missing
    assert message["user_id"] == "1"
    assert message["http_status_code"] == 404
    assert message["user_agent"] == USER_AGENT
    assert "orders API stub: upload of documents/SB1029435/a.pdf" in server_output
    assert "orders API stub: download of documents/SB1029435/a.pdf" in server_output
