"""Notifiers: where alerts go (a list, the log, a webhook, email), and a dispatcher.

A :class:`Notifier` has one method, ``send(alert)``, which delivers or raises.
:class:`MemoryNotifier` keeps what it got: an embedded app reads its recent
alerts from it, and tests use it as the double. :class:`LogNotifier` writes to
Python logging, :class:`WebhookNotifier` posts JSON with a Slack-compatible body
and :class:`SmtpNotifier` sends email.

The :class:`Dispatcher` calls every notifier for an alert and records each
attempt as a :class:`DeliveryRecord`: a failing notifier neither stops the
others nor disappears (it is recorded, counted and logged). A notifier that
retries on its own (the webhook) reports each try with :func:`report_attempt`,
so the dispatcher's log shows every attempt, not only the outcome.
"""

from __future__ import annotations

import contextvars
import logging
import smtplib
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import httpx

from loopml.core.errors import InvalidParameter, LoopmlError
from loopml.monitoring.urls import check_url

if TYPE_CHECKING:
    from loopml.monitoring.alerts import Alert

logger = logging.getLogger("loopml.monitoring.notifiers")


class DeliveryError(LoopmlError):
    """A notifier gave up on an alert; the message says why (without secrets from the URL)."""

    error_code = "DELIVERY_FAILED"
    http_status = 502


@runtime_checkable
class Notifier(Protocol):
    """Delivers one alert, or raises when it could not."""

    def send(self, alert: Alert) -> None: ...


@dataclass(frozen=True)
class DeliveryRecord:
    """One attempt to deliver one alert through one notifier."""

    alert_id: str
    notifier: str
    attempt: int
    ok: bool
    error: str | None
    at_ms: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Where a retrying notifier reports each attempt during one Dispatcher call.
_listener: contextvars.ContextVar[Callable[[bool, str | None], None] | None] = (
    contextvars.ContextVar("loopml_notifier_attempts", default=None)
)


def report_attempt(ok: bool, error: str | None = None) -> None:
    """Tell the dispatcher, if one is listening, about one delivery attempt."""
    listener = _listener.get()
    if listener is not None:
        listener(ok, error)


class Dispatcher:
    """Sends each alert to every notifier and keeps a log of every attempt.

    Args:
        notifiers: where alerts go; each is tried even when an earlier one fails.
        max_records: how many records the log keeps (the oldest go first); the
            totals in ``attempts`` and ``failures`` keep counting.
        clock: seconds since the epoch, for ``at_ms``.
    """

    def __init__(
        self,
        notifiers: Sequence[Notifier] = (),
        *,
        max_records: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_records < 1:
            raise InvalidParameter(f"max_records must be at least 1, got {max_records}")
        self.notifiers = list(notifiers)
        self.clock = clock
        self.attempts = 0
        self.failures = 0
        self._records: deque[DeliveryRecord] = deque(maxlen=max_records)
        self._lock = threading.Lock()
        self._names = _unique_names(self.notifiers)

    @property
    def records(self) -> list[DeliveryRecord]:
        """Every recorded attempt, oldest first."""
        with self._lock:
            return list(self._records)

    def failed(self) -> list[DeliveryRecord]:
        """The recorded attempts that failed, oldest first."""
        return [record for record in self.records if not record.ok]

    def dispatch(self, alert: Alert) -> list[DeliveryRecord]:
        """Send ``alert`` through every notifier; return this call's records."""
        records: list[DeliveryRecord] = []
        for name, notifier in zip(self._names, self.notifiers, strict=True):
            records.extend(self._deliver(name, notifier, alert))
        with self._lock:
            self._records.extend(records)
            self.attempts += len(records)
            self.failures += sum(not record.ok for record in records)
        return records

    def _deliver(self, name: str, notifier: Notifier, alert: Alert) -> list[DeliveryRecord]:
        records: list[DeliveryRecord] = []

        def record(ok: bool, error: str | None) -> None:
            at_ms = int(self.clock() * 1000)
            records.append(DeliveryRecord(alert.alert_id, name, len(records) + 1, ok, error, at_ms))

        token = _listener.set(record)
        error: str | None = None
        try:
            notifier.send(alert)
        except Exception as exc:  # one notifier's failure must not stop the others
            error = f"{type(exc).__name__}: {exc}"
        finally:
            _listener.reset(token)
        if not records or (error is not None and records[-1].ok):
            record(error is None, error)
        if error is not None:
            logger.warning(
                "alert %s (%s %s) not delivered by %s after %d attempt(s): %s",
                alert.alert_id, alert.rule, alert.state, name, len(records), error,
            )  # fmt: skip
        return records


def _unique_names(notifiers: Sequence[Notifier]) -> list[str]:
    """A name per notifier for the records: its ``name`` or class, numbered when repeated."""
    names: list[str] = []
    for notifier in notifiers:
        base = str(getattr(notifier, "name", "") or type(notifier).__name__)
        name, n = base, 2
        while name in names:
            name, n = f"{base}#{n}", n + 1
        names.append(name)
    return names


class MemoryNotifier:
    """Keeps every alert it is sent in ``alerts``, oldest first.

    The test double for everything that notifies, and a feature: an embedded app
    or a notebook reads the recent alerts back without a receiver.

    Args:
        max_alerts: how many it keeps; the oldest are dropped first.
    """

    name = "memory"

    def __init__(self, *, max_alerts: int = 10_000) -> None:
        if max_alerts < 1:
            raise InvalidParameter(f"max_alerts must be at least 1, got {max_alerts}")
        self._alerts: deque[Alert] = deque(maxlen=max_alerts)
        self._lock = threading.Lock()

    @property
    def alerts(self) -> list[Alert]:
        with self._lock:
            return list(self._alerts)

    def send(self, alert: Alert) -> None:
        with self._lock:
            self._alerts.append(alert)

    def clear(self) -> None:
        with self._lock:
            self._alerts.clear()


class LogNotifier:
    """Writes each alert to Python logging: firing at WARNING (ERROR when critical), else INFO."""

    name = "log"

    def __init__(self, logger_name: str = "loopml.alerts") -> None:
        self.logger_name = logger_name

    def send(self, alert: Alert) -> None:
        level = logging.INFO
        if alert.state == "firing":
            level = logging.ERROR if alert.severity == "critical" else logging.WARNING
        logging.getLogger(self.logger_name).log(
            level, "[%s] %s %s: %s", alert.severity, alert.state, alert.alert_id, alert.message
        )


def alert_text(alert: Alert) -> str:
    """One line a person reads in chat or an email subject."""
    return (
        f"[{alert.severity.upper()}] {alert.state}: {alert.rule} on {alert.monitor} "
        f"({alert.subject}) value {alert.value:g}, threshold {alert.threshold:g}"
    )


class WebhookNotifier:
    """POSTs ``{"text": ..., "alert": {...}}`` as JSON: Slack's incoming-webhook shape.

    The URL is checked with :func:`~loopml.monitoring.urls.check_url` when the
    notifier is made and again before every attempt; redirects are not followed
    (a 3xx is a failure). Connection errors, timeouts, 5xx and 429 are retried
    with exponential backoff (``backoff_s``, then twice that, ...; a 429's
    ``Retry-After`` in seconds, up to 60, when it asks for longer); other 4xx are
    not retried.

    Args:
        url: the receiver.
        allowlist: hosts the URL may point at (see :mod:`loopml.monitoring.urls`).
        timeout_s: per attempt.
        retries: attempts in all, at least 1.
        backoff_s: the first wait between attempts.
        sleep: how to wait (tests pass a recorder).
        headers: extra request headers (an ``Authorization`` for the receiver).
    """

    name = "webhook"
    RETRY_STATUSES: ClassVar[frozenset[int]] = frozenset({429, 500, 502, 503, 504})
    MAX_RETRY_AFTER_S: ClassVar[float] = 60.0

    def __init__(
        self,
        url: str,
        *,
        allowlist: Sequence[str],
        timeout_s: float = 5.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if retries < 1:
            raise InvalidParameter(f"retries must be at least 1 (attempts in all), got {retries}")
        if timeout_s <= 0 or backoff_s < 0:
            raise InvalidParameter("timeout_s must be positive and backoff_s not negative")
        check_url(url, allowlist)
        self.url = url
        self.allowlist = tuple(allowlist)
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.sleep = sleep
        self.headers = dict(headers or {})

    def __repr__(self) -> str:  # the URL's path often is the secret
        return f"WebhookNotifier(origin={httpx.URL(self.url).host!r}, retries={self.retries})"

    def body(self, alert: Alert) -> dict[str, Any]:
        return {"text": alert_text(alert), "alert": alert.to_dict()}

    def send(self, alert: Alert) -> None:
        body = self.body(alert)
        with httpx.Client(
            timeout=self.timeout_s, follow_redirects=False, trust_env=False
        ) as client:
            for attempt in range(1, self.retries + 1):
                delay = self._attempt(client, body)
                if delay is None:
                    return
                if attempt < self.retries:
                    self.sleep(max(delay, self.backoff_s * 2 ** (attempt - 1)))
        raise DeliveryError(f"webhook to {_origin(self.url)} failed after {self.retries} attempts")

    def _attempt(self, client: httpx.Client, body: dict[str, Any]) -> float | None:
        """One POST: None when delivered, else the least wait before the next try.

        Raises DeliveryError when another try cannot help (a refused URL, a 4xx, a redirect).
        """
        origin = _origin(self.url)
        try:
            check_url(self.url, self.allowlist)
            response = client.post(self.url, json=body, headers=self._headers())
        except InvalidParameter as exc:
            report_attempt(False, exc.message)
            raise DeliveryError(exc.message) from None
        except httpx.TransportError as exc:
            report_attempt(False, f"{type(exc).__name__}: {exc} ({origin})")
            return 0.0
        status = response.status_code
        if response.is_success:
            report_attempt(True)
            return None
        error = f"HTTP {status} from {origin}"
        report_attempt(False, error)
        if status in self.RETRY_STATUSES:
            return _retry_after_s(response, self.MAX_RETRY_AFTER_S)
        if response.is_redirect:
            error += " (redirects are not followed)"
        raise DeliveryError(error)

    def _headers(self) -> dict[str, str]:
        return {"User-Agent": "loopml-alerts", **self.headers}


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii', 'replace')}"


def _retry_after_s(response: httpx.Response, cap_s: float) -> float:
    try:
        return min(max(float(response.headers.get("Retry-After", "0")), 0.0), cap_s)
    except ValueError:
        return 0.0


class SmtpNotifier:
    """Sends each alert as a plain-text email through an SMTP server.

    Args:
        host, port: the SMTP server.
        sender: the From address.
        recipients: the To addresses.
        starttls: upgrade the connection with STARTTLS (certificate verified).
        username, password: SMTP AUTH; only over STARTTLS, never in clear text.
        timeout_s: for connecting and each command.
    """

    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: Sequence[str],
        *,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        _check_header("host", host)
        _check_header("sender", sender)
        if isinstance(recipients, str) or not recipients:
            raise InvalidParameter("recipients must be a non-empty list of addresses")
        for recipient in recipients:
            _check_header("recipients", recipient)
        if not 0 < port < 65536:
            raise InvalidParameter(f"port must be between 1 and 65535, got {port}")
        if (username or password) and not starttls:
            raise InvalidParameter("username/password need starttls=True (no AUTH in clear text)")
        self.host, self.port, self.sender = host, port, sender
        self.recipients = list(recipients)
        self.starttls = starttls
        self.username, self.password = username, password
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"SmtpNotifier(host={self.host!r}, port={self.port}, recipients={self.recipients})"

    def message(self, alert: Alert) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = _one_line(alert_text(alert))
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        lines = [alert.message, ""]
        lines += [f"{key}: {value}" for key, value in alert.to_dict().items()]
        message.set_content("\n".join(lines) + "\n")
        return message

    def send(self, alert: Alert) -> None:
        with self._connect() as smtp:
            smtp.send_message(self.message(alert))

    @contextmanager
    def _connect(self) -> Iterator[smtplib.SMTP]:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username or self.password:
                smtp.login(self.username or "", self.password or "")
            yield smtp


def _check_header(field: str, value: str) -> None:
    if not isinstance(value, str) or not value.strip() or any(c in value for c in "\r\n"):
        raise InvalidParameter(f"{field} must be a non-empty single line, got {value!r}")


def _one_line(text: str) -> str:
    return " ".join(text.split())
