"""Real receivers for the notifier's tests: an HTTP webhook endpoint, an SMTP server,
an RFC 8030 push service. Each runs on a free port in a thread of its own.

* :class:`WebhookReceiver` verifies every request with ``standardwebhooks`` against the
  secrets it knows, counts ``webhook-id`` s and can be told to answer 503 (down) or 410.
* :class:`SmtpReceiver` is ``aiosmtpd``; it parses each message and can answer 4xx/5xx.
* :class:`PushService` checks the VAPID JWT (ES256 against the ``k=`` key, audience,
  expiry) and decrypts the aes128gcm body with the subscription's private keys.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import email
import email.policy
import ipaddress
import os
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import http_ece
import jwt
import orjson
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from runtime.services import free_port


class _Server:
    """An aiohttp application served from a background thread."""

    def __init__(self, app: web.Application) -> None:
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.app = app
        self.runner: web.AppRunner | None = None
        ready = threading.Event()

        def main() -> None:
            asyncio.set_event_loop(self.loop)

            async def start() -> None:
                self.runner = web.AppRunner(self.app)
                await self.runner.setup()
                await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
                ready.set()

            self.loop.run_until_complete(start())
            self.loop.run_forever()

        self.thread = threading.Thread(target=main, daemon=True)
        self.thread.start()
        ready.wait(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        async def stop() -> None:
            if self.runner is not None:
                await self.runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


@dataclass
class Received:
    id: str
    body: dict[str, Any]
    at: float
    signatures: int


class WebhookReceiver:
    """A webhook endpoint verifying Standard Webhooks signatures."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = list(secrets)
        self.received: list[Received] = []
        self.rejected: list[str] = []
        self.answer = 200
        self.delay = 0.0
        self.lock = threading.Lock()
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.server = _Server(app)
        self.url = f"{self.server.url}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.answer != 200:
            return web.Response(status=self.answer, text="not now")
        headers = dict(request.headers)
        for secret in self.secrets:
            try:
                data = Webhook(secret).verify(body, headers)
                break
            except WebhookVerificationError:
                continue
        else:
            with self.lock:
                self.rejected.append(request.headers.get("webhook-id", ""))
            return web.Response(status=401, text="bad signature")
        with self.lock:
            self.received.append(
                Received(
                    id=request.headers["webhook-id"],
                    body=data,
                    at=time.time(),
                    signatures=len(request.headers["webhook-signature"].split(" ")),
                )
            )
        return web.Response(status=204)

    def ids(self) -> Counter[str]:
        with self.lock:
            return Counter(r.id for r in self.received)

    def wait(self, count: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        with self.lock:
            return list(self.received)

    def close(self) -> None:
        self.server.close()


class _SmtpHandler:
    def __init__(self, owner: SmtpReceiver) -> None:
        self.owner = owner

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.owner.answers:
            return self.owner.answers.pop(0)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.owner.messages.append(message)
        return "250 OK"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by itself, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class _Authenticator:
    def __init__(self, username: str, password: str) -> None:
        self.expected = (username.encode(), password.encode())
        self.tried: list[bytes] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        self.tried.append(data.login)
        return AuthResult(success=(data.login, data.password) == self.expected, handled=False)


class SmtpReceiver:
    """``aiosmtpd`` on a free port; ``answers`` are returned (and consumed) before accepting.

    With ``tls`` (certificate and key files) it requires STARTTLS; with ``login`` it
    requires AUTH (only after STARTTLS) with that username and password.
    """

    def __init__(self, *, tls: tuple[Path, Path] | None = None, login: tuple[str, str] | None = None) -> None:
        self.messages: list[EmailMessage] = []
        self.answers: list[str] = []
        self.port = free_port()
        options: dict[str, Any] = {}
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            options.update(tls_context=context, require_starttls=True)
        self.authenticator = None if login is None else _Authenticator(*login)
        if self.authenticator is not None:
            options.update(authenticator=self.authenticator, auth_required=True, auth_require_tls=True)
        self.controller = Controller(_SmtpHandler(self), hostname="127.0.0.1", port=self.port, **options)
        self.controller.start()

    def wait(self, count: int, timeout: float = 20.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.messages) < count:
            time.sleep(0.02)
        return list(self.messages)

    def close(self) -> None:
        self.controller.stop()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Subscriber:
    """A browser's side of a subscription: its key pair and auth secret."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    def to_json(self) -> dict[str, Any]:
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"endpoint": self.endpoint, "keys": {"p256dh": _b64url(public), "auth": _b64url(self.auth)}}


@dataclass
class Pushed:
    subscription: str
    payload: dict[str, Any]
    headers: dict[str, str]
    claims: dict[str, Any]


class PushService:
    """A local RFC 8030 push service: ``POST /push/<name>`` checks VAPID (RFC 8292),
    decrypts aes128gcm (RFC 8291) with the subscriber's keys and records the message."""

    def __init__(self) -> None:
        self.subscribers: dict[str, Subscriber] = {}
        self.pushed: list[Pushed] = []
        self.errors: list[str] = []
        self.gone: set[str] = set()
        app = web.Application()
        app.router.add_post("/push/{name}", self.handle)
        self.server = _Server(app)

    def subscriber(self, name: str) -> Subscriber:
        sub = Subscriber(endpoint=f"{self.server.url}/push/{name}")
        self.subscribers[name] = sub
        return sub

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name in self.gone or name not in self.subscribers:
            return web.Response(status=410, text="gone")
        authorization = request.headers.get("authorization", "")
        try:
            scheme, _, params = authorization.partition(" ")
            assert scheme.lower() == "vapid", f"scheme {scheme!r}"
            fields = dict(part.strip().split("=", 1) for part in params.split(","))
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _unb64url(fields["k"]))
            claims = jwt.decode(fields["t"], key=key, algorithms=["ES256"], audience=self.server.url)
            assert str(claims["sub"]).startswith(("mailto:", "https:")), "sub claim"
            assert request.headers.get("content-encoding") == "aes128gcm", "encoding"
            assert int(request.headers["ttl"]) >= 0, "ttl"
            body = await request.read()
            subscriber = self.subscribers[name]
            plain = http_ece.decrypt(
                body, private_key=subscriber.private_key, auth_secret=subscriber.auth, version="aes128gcm"
            )
        except Exception as exc:  # any failure is a rejected push, recorded for the test
            self.errors.append(f"{type(exc).__name__}: {exc}")
            return web.Response(status=400, text="rejected")
        self.pushed.append(
            Pushed(name, orjson.loads(plain), {k.lower(): v for k, v in request.headers.items()}, claims)
        )
        return web.Response(status=201)

    def wait(
        self, count: int, timeout: float = 20.0, where: Callable[[Pushed], bool] | None = None
    ) -> list[Pushed]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [p for p in self.pushed if where is None or where(p)]
            if len(found) >= count:
                return found
            time.sleep(0.02)
        return [p for p in self.pushed if where is None or where(p)]

    def close(self) -> None:
        self.server.close()
