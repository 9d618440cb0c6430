"""Notifiers against real receivers: an HTTP server and an SMTP server on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from loopml.core.errors import InvalidParameter
from loopml.monitoring.alerts import Alert, AlertEngine, AlertRule
from loopml.monitoring.notifiers import (
    DeliveryError,
    Dispatcher,
    LogNotifier,
    MemoryNotifier,
    SmtpNotifier,
    WebhookNotifier,
)

LOCAL = ["127.0.0.1"]


def make_alert(**overrides: Any) -> Alert:
    fields: dict[str, Any] = {
        "alert_id": "a" * 32,
        "rule": "age-drift",
        "monitor": "churn-prod",
        "subject": "age",
        "severity": "warning",
        "state": "firing",
        "value": 0.31,
        "threshold": 0.2,
        "message": "age-drift: churn-prod age = 0.31 > 0.2",
        "started_ms": 1_700_000_000_000,
        "updated_ms": 1_700_000_000_000,
        "labels": {"team": "risk"},
    }
    return Alert(**{**fields, **overrides})


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Receiver:
    """A webhook receiver: records requests; can fail, answer a status, or redirect."""

    url: str = ""
    requests: list[Request] = field(default_factory=list)
    fail_first: int = 0
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)

    def answer(self, request: Request) -> tuple[int, dict[str, str]]:
        self.requests.append(request)
        if self.fail_first > 0:
            self.fail_first -= 1
            return 500, {}
        return self.status, self.headers


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            request = Request(
                self.command, self.path, dict(self.headers), json.loads(raw) if raw else None
            )
            status, headers = receiver.answer(request)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        do_POST = do_GET = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook/s3cr3t"
    yield receiver
    server.shutdown()
    server.server_close()
    thread.join(5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Sleeps(list[float]):
    """The injected ``sleep``: records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# --- webhook ---------------------------------------------------------------------------


def test_webhook_posts_a_slack_compatible_body_with_the_alert(receiver: Receiver) -> None:
    notifier = WebhookNotifier(
        receiver.url, allowlist=LOCAL, headers={"Authorization": "Bearer hook-token"}
    )
    notifier.send(make_alert())
    [request] = receiver.requests
    assert request.method == "POST"
    assert request.path == "/hook/s3cr3t"
    assert request.headers["Authorization"] == "Bearer hook-token"
    assert request.headers["Content-Type"] == "application/json"
    assert "age-drift" in request.body["text"]
    assert "churn-prod" in request.body["text"]
    assert request.body["alert"] == make_alert().to_dict()


def test_webhook_retries_5xx_with_exponential_backoff_then_delivers(receiver: Receiver) -> None:
    receiver.fail_first = 3
    sleeps = Sleeps()
    notifier = WebhookNotifier(receiver.url, allowlist=LOCAL, retries=4, sleep=sleeps)
    records = Dispatcher([notifier]).dispatch(make_alert())
    assert sleeps == [0.5, 1.0, 2.0]
    assert len(receiver.requests) == 4
    assert [(r.attempt, r.ok) for r in records] == [(1, False), (2, False), (3, False), (4, True)]
    assert records[0].error is not None
    assert records[0].error.startswith("HTTP 500 from")
    assert all(r.notifier == "webhook" and r.alert_id == "a" * 32 for r in records)


def test_webhook_honours_retry_after_on_429(receiver: Receiver) -> None:
    receiver.status, receiver.headers = 429, {"Retry-After": "7"}
    sleeps = Sleeps()
    notifier = WebhookNotifier(receiver.url, allowlist=LOCAL, retries=2, sleep=sleeps)
    with pytest.raises(DeliveryError, match="failed after 2 attempts"):
        notifier.send(make_alert())
    assert sleeps == [7.0]
    assert len(receiver.requests) == 2


def test_webhook_does_not_retry_other_4xx(receiver: Receiver) -> None:
    receiver.status = 400
    sleeps = Sleeps()
    notifier = WebhookNotifier(receiver.url, allowlist=LOCAL, sleep=sleeps)
    with pytest.raises(DeliveryError, match=r"HTTP 400 from http://127.0.0.1:\d+$"):
        notifier.send(make_alert())
    assert sleeps == []
    assert len(receiver.requests) == 1


def test_webhook_does_not_follow_redirects(receiver: Receiver) -> None:
    receiver.status, receiver.headers = 302, {"Location": "/landing"}
    sleeps = Sleeps()
    notifier = WebhookNotifier(receiver.url, allowlist=LOCAL, sleep=sleeps)
    with pytest.raises(DeliveryError, match=r"HTTP 302 from .*\(redirects are not followed\)"):
        notifier.send(make_alert())
    assert [r.path for r in receiver.requests] == ["/hook/s3cr3t"]
    assert sleeps == []


def test_webhook_errors_and_repr_do_not_show_the_secret_path(receiver: Receiver) -> None:
    receiver.status = 404
    notifier = WebhookNotifier(receiver.url, allowlist=LOCAL)
    [record] = Dispatcher([notifier]).dispatch(make_alert())
    assert record.error is not None
    assert "s3cr3t" not in record.error
    assert "s3cr3t" not in repr(notifier)


def test_webhook_url_is_checked_when_made() -> None:
    with pytest.raises(InvalidParameter, match="cloud metadata address"):
        WebhookNotifier("http://169.254.169.254/latest/", allowlist=["169.254.169.254"])
    with pytest.raises(InvalidParameter, match="internal"):
        WebhookNotifier("http://127.0.0.1:9/hook", allowlist=[])
    with pytest.raises(InvalidParameter, match="retries must be at least 1"):
        WebhookNotifier("http://127.0.0.1:9/hook", allowlist=LOCAL, retries=0)


def test_webhook_url_is_checked_again_before_each_send(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name's DNS answer changes after the notifier was made (``socket.getaddrinfo``
    is the stdlib boundary, replaced here because no local resolver can be told to
    answer with a metadata address; our code is not mocked)."""
    answer = ["127.0.0.1"]
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host == "hooks.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer[0], port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    port = receiver.url.split(":")[2].split("/")[0]
    notifier = WebhookNotifier(f"http://hooks.test:{port}/hook", allowlist=["hooks.test"])
    notifier.send(make_alert())
    answer[0] = "169.254.169.254"
    sleeps = Sleeps()
    notifier.sleep = sleeps
    records = Dispatcher([notifier]).dispatch(make_alert())
    assert [(r.ok, r.attempt) for r in records] == [(False, 1)]
    assert records[0].error is not None
    assert "cloud metadata address" in records[0].error
    assert len(receiver.requests) == 1
    assert sleeps == []


def test_a_down_receiver_gets_retries_recorded_failures_and_the_alert_stays_firing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sleeps = Sleeps()
    webhook = WebhookNotifier(
        f"http://127.0.0.1:{free_port()}/hook", allowlist=LOCAL, sleep=sleeps, timeout_s=2
    )
    memory = MemoryNotifier()
    engine = AlertEngine(
        [webhook, memory], rules=[AlertRule("age-drift", "columns.*.score", ">", 0.2)]
    )
    with caplog.at_level(logging.WARNING, logger="loopml.monitoring.notifiers"):
        [fired] = engine.evaluate("churn-prod", {"columns": {"age": {"score": 0.4}}}, 1000)

    assert sleeps == [0.5, 1.0]
    failed = engine.dispatcher.failed()
    assert [(r.notifier, r.attempt) for r in failed] == [
        ("webhook", 1),
        ("webhook", 2),
        ("webhook", 3),
    ]
    assert all(r.error and r.error.startswith("ConnectError") for r in failed)
    assert engine.dispatcher.failures == 3
    assert engine.dispatcher.attempts == 4
    assert memory.alerts == [fired]  # the failing notifier did not stop the next one
    assert [a.alert_id for a in engine.search_alerts(state="firing")] == [fired.alert_id]
    assert "not delivered by webhook after 3 attempt(s)" in caplog.text


# --- dispatcher, memory and log --------------------------------------------------------


class BrokenNotifier:
    name = "broken"

    def send(self, alert: Alert) -> None:
        raise RuntimeError("receiver exploded")


def test_dispatcher_records_each_notifier_and_keeps_going_after_a_failure() -> None:
    first, second = MemoryNotifier(), MemoryNotifier()
    clock = iter([10.0, 11.0, 12.0])
    dispatcher = Dispatcher([first, BrokenNotifier(), second], clock=lambda: next(clock))
    records = dispatcher.dispatch(make_alert())
    assert [(r.notifier, r.ok, r.error, r.at_ms) for r in records] == [
        ("memory", True, None, 10_000),
        ("broken", False, "RuntimeError: receiver exploded", 11_000),
        ("memory#2", True, None, 12_000),
    ]
    assert first.alerts == second.alerts == [make_alert()]
    assert dispatcher.records == records
    assert dispatcher.failed() == [records[1]]
    assert records[1].to_dict()["error"] == "RuntimeError: receiver exploded"


def test_dispatcher_log_is_bounded_but_totals_keep_counting() -> None:
    dispatcher = Dispatcher([BrokenNotifier()], max_records=2)
    for n in range(3):
        dispatcher.dispatch(make_alert(alert_id=f"{n:032x}"))
    assert [r.alert_id[-1] for r in dispatcher.records] == ["1", "2"]
    assert dispatcher.failures == 3


def test_memory_notifier_keeps_the_latest_alerts() -> None:
    notifier = MemoryNotifier(max_alerts=2)
    for n in range(3):
        notifier.send(make_alert(alert_id=f"{n:032x}"))
    assert [a.alert_id[-1] for a in notifier.alerts] == ["1", "2"]
    notifier.clear()
    assert notifier.alerts == []
    with pytest.raises(InvalidParameter, match="max_alerts must be at least 1"):
        MemoryNotifier(max_alerts=0)


def test_log_notifier_logs_firing_as_warning_critical_as_error_resolved_as_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    notifier = LogNotifier()
    with caplog.at_level(logging.INFO, logger="loopml.alerts"):
        notifier.send(make_alert())
        notifier.send(make_alert(severity="critical"))
        notifier.send(make_alert(state="resolved"))
    assert [r.levelname for r in caplog.records] == ["WARNING", "ERROR", "INFO"]
    assert "age-drift: churn-prod age = 0.31 > 0.2" in caplog.records[0].getMessage()


# --- SMTP ------------------------------------------------------------------------------


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield mailbox, controller.port
    controller.stop()


def test_smtp_sends_an_email_naming_rule_monitor_value_and_threshold(
    smtp_server: tuple[Mailbox, int],
) -> None:
    mailbox, port = smtp_server
    notifier = SmtpNotifier(
        "127.0.0.1", port, "loopml@example.com", ["oncall@example.com", "ml@example.com"]
    )
    notifier.send(make_alert())
    [message] = mailbox.messages
    assert mailbox.envelopes == [("loopml@example.com", ["oncall@example.com", "ml@example.com"])]
    subject = message["Subject"]
    for text in ("age-drift", "churn-prod", "0.31", "0.2", "firing", "WARNING"):
        assert text in subject
    body = message.get_content()
    for text in ("rule: age-drift", "monitor: churn-prod", "value: 0.31", "threshold: 0.2"):
        assert text in body


def test_smtp_subject_stays_one_line_whatever_the_names(smtp_server: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp_server
    notifier = SmtpNotifier("127.0.0.1", port, "loopml@example.com", ["oncall@example.com"])
    notifier.send(make_alert(monitor="churn\r\nBcc: victim@example.com"))
    [message] = mailbox.messages
    assert message["Bcc"] is None
    assert "churn Bcc: victim@example.com" in message["Subject"]
    assert mailbox.envelopes[0][1] == ["oncall@example.com"]


def test_smtp_server_down_is_a_recorded_failure() -> None:
    notifier = SmtpNotifier("127.0.0.1", free_port(), "loopml@example.com", ["a@example.com"])
    [record] = Dispatcher([notifier]).dispatch(make_alert())
    assert not record.ok
    assert record.notifier == "smtp"
    assert record.error is not None
    assert record.error.startswith("ConnectionRefusedError")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sender": "a@example.com\r\nBcc: x@example.com"}, "sender must be a non-empty single"),
        ({"recipients": []}, "recipients must be a non-empty list"),
        ({"recipients": "a@example.com"}, "recipients must be a non-empty list"),
        ({"port": 0}, "port must be between 1 and 65535"),
        ({"username": "u", "password": "p"}, "need starttls=True"),
    ],
)
def test_smtp_settings_are_checked_naming_the_field(kwargs: dict[str, Any], match: str) -> None:
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 25,
        "sender": "a@example.com",
        "recipients": ["b@example.com"],
    }
    starttls = kwargs.pop("starttls", False)
    with pytest.raises(InvalidParameter, match=match):
        SmtpNotifier(**{**settings, **kwargs}, starttls=starttls)


def test_resolved_alert_email_says_resolved(smtp_server: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp_server
    notifier = SmtpNotifier("127.0.0.1", port, "loopml@example.com", ["oncall@example.com"])
    notifier.send(replace(make_alert(), state="resolved", value=0.05))
    assert "resolved" in mailbox.messages[0]["Subject"]
    assert "0.05" in mailbox.messages[0]["Subject"]


def test_a_real_receiver_gets_one_alert_per_cooldown_from_a_flapping_score(
    receiver: Receiver,
) -> None:
    now = [1_700_000_000.0]
    engine = AlertEngine(
        [WebhookNotifier(receiver.url, allowlist=LOCAL)],
        rules=[AlertRule("age-drift", "columns.*.score", ">", 0.2, cooldown_s=3600)],
        clock=lambda: now[0],
    )
    for window in range(1, 13):  # every 10 minutes for two hours, drifting on odd windows
        now[0] += 600
        score = 0.3 if window % 2 else 0.1
        engine.evaluate("churn-prod", {"columns": {"age": {"score": score}}}, window * 600_000)
    firing = [r.body["alert"] for r in receiver.requests if r.body["alert"]["state"] == "firing"]
    assert [a["window_end_ms"] // 600_000 for a in firing] == [1, 7]
    assert engine.dispatcher.failures == 0
