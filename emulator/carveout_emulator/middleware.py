"""WSGI middleware in front of moto: the /_carveout control API, fault injection, and what
AWS does to carveout's own sessions (verification.py, consistency.py; caller.py tells patches
who calls)."""

from __future__ import annotations

import functools
import io
import json
import re
import time
import uuid
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs

from . import caller, pagination
from .consistency import CONSISTENCY, is_carveout
from .control import CONTROL, Fault
from .patches import executions
from .recorder import RECORDER, parameters, principal, referenced_ids
from .throttling import THROTTLING
from .verification import pending_verification

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_ACCESS_KEY = re.compile(r"Credential=([^/]+)/")
_THROTTLED = Fault(action="", code="RequestLimitExceeded", message="Request limit exceeded.", status=503)
# EC2 errors moto raises with its default 400 that AWS answers with another HTTP status:
# OptInRequired (an unsubscribed Marketplace product, patches/marketplace.py) is a 401.
_AWS_STATUS = {b"<Code>OptInRequired</Code>": "401 Unauthorized"}
_AWS_STATUS_ACTIONS = {"runinstances"}


def _account(environ: dict[str, Any]) -> str:
    from moto.iam.models import get_account_id_from  # assumed-role keys map to their account

    match = _ACCESS_KEY.search(environ.get("HTTP_AUTHORIZATION", ""))
    return get_account_id_from(match.group(1)) if match else ""


def _who(environ: dict[str, Any]) -> dict[str, Any]:
    """The caller's principal (role and session name of assumed-role credentials)."""
    access = _ACCESS_KEY.search(environ.get("HTTP_AUTHORIZATION", ""))
    return principal(access.group(1)) if access else {}


def _aws_status(service: str, status: str, answer: bytes) -> str:
    if service == "ec2" and status.startswith("400"):
        for marker, aws in _AWS_STATUS.items():
            if marker in answer:
                return aws
    return status


def _instance_count(body: bytes) -> int:
    values = parse_qs(body.decode("utf-8", "replace")).get("MaxCount")
    return int(values[0]) if values else 1


def _service(environ: dict[str, Any]) -> str:
    match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return match.group(1) if match else ""


def _action(environ: dict[str, Any], body: bytes) -> str:
    """The API action: `Action=` of query-protocol services, the operation of a REST-XML
    service's method and path (Route 53), else the REST path (RAM)."""
    for source in (environ.get("QUERY_STRING", ""), body.decode("utf-8", "replace")):
        values = parse_qs(source).get("Action")
        if values:
            return values[0]
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return target.rsplit(".", 1)[-1]
    path = environ.get("PATH_INFO", "")
    if _service(environ) == "route53":
        method = environ.get("REQUEST_METHOD", "GET")
        for verb, pattern, name in _rest_operations("route53"):
            if verb == method and pattern.fullmatch(path):
                return name
    return path.strip("/").split("/")[0]


@functools.cache
def _rest_operations(service: str) -> list[tuple[str, re.Pattern[str], str]]:
    """(method, path pattern, operation) of a REST service from its botocore model, the
    most literal paths first (`/hostedzonesbyvpc` before `/hostedzone/{Id}`)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model(service)
    out = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        uri = http["requestUri"].split("?", 1)[0]
        regex = re.sub(r"\\{[^}]+\\\+\\}", ".+", re.escape(uri))
        regex = re.sub(r"\\{[^}]+\\}", "[^/]+", regex)
        out.append((http["method"], re.compile(regex.rstrip("/") + "/?"), name))
    return sorted(out, key=lambda o: -len(o[1].pattern.replace("[^/]+", "")))


def _error(service: str, fault: Fault) -> tuple[str, list[tuple[str, str]], bytes]:
    request_id = str(uuid.uuid4())
    status = f"{fault.status} Injected"
    if service == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{fault.code}</Code><Message>{fault.message}"
            f"</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
        )
        return status, [("Content-Type", "text/xml")], body.encode()
    if service in ("ram", "states", "ssm"):  # JSON protocols
        headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", fault.code)]
        payload = {"__type": fault.code, "message": fault.message}
        return status, headers, json.dumps(payload).encode()
    kind = "Sender" if fault.status < 500 else "Receiver"
    body = (
        f"<ErrorResponse><Error><Type>{kind}</Type><Code>{fault.code}</Code>"
        f"<Message>{fault.message}</Message></Error><RequestId>{request_id}</RequestId>"
        "</ErrorResponse>"
    )
    return status, [("Content-Type", "text/xml")], body.encode()


def _slow(fault: Fault | None) -> Fault | None:
    """Holds the answer for a fault's `delay`; a fault without an error code then lets the
    call answer normally (None)."""
    if fault is None:
        return None
    if fault.delay:
        time.sleep(fault.delay)
    return fault if fault.code else None


class CarveoutMiddleware:
    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_carveout/"):
            return self._control(environ, start_response, path)
        if path.startswith("/moto-api/reset"):
            executions.reset()
            CONTROL.reset()
            CONSISTENCY.reset()
            THROTTLING.configure(None)
            return self.app(environ, start_response)
        if path.startswith("/moto-api"):
            return self.app(environ, start_response)

        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        if RECORDER.enabled:
            return RECORDER.around(environ, body, _action(environ, body), start_response,
                                   lambda respond: self._serve(environ, body, respond))
        return self._serve(environ, body, start_response)

    def _serve(self, environ: dict[str, Any], body: bytes, start_response: Any) -> Iterable[bytes]:
        """An AWS API request: injected faults, throttling and what AWS does to carveout's
        own sessions (verification, eventual consistency), else moto."""
        service = _service(environ)
        action = _action(environ, body).lower()
        who = _who(environ) if service == "ec2" else {}
        caller.set_current(who)

        fault = _slow(CONTROL.fault_for(action, "before"))
        if fault is not None:
            return self._reply(start_response, *_error(service, fault))
        if service == "ec2" and not THROTTLING.admit(_account(environ), action, _instance_count(body)):
            return self._reply(start_response, *_error(service, _THROTTLED))
        # moto answers lists whole; AWS in pages (pagination.py). Of the client's own request.
        app = pagination.wrap(self.app, service, action, environ, body, _error)
        watched, stale = None, None
        if is_carveout(who):
            account = who.get("account", "")
            fault = pending_verification(account, action)
            params = parameters(environ, body, service)
            ids = referenced_ids(params)
            if fault is None and CONTROL.phases.get("eventualConsistencyReads"):
                fault = CONSISTENCY.before(account, action, ids)
            if fault is not None:
                return self._reply(start_response, *_error(service, fault))
            if CONSISTENCY.watches(action):
                watched = (account, params)
            stale = CONSISTENCY.stale_view(account, action, params, ids)
            if stale is not None and stale.running_only:
                body = stale.request_body(body)
                environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
        if (watched is None and stale is None and action not in _AWS_STATUS_ACTIONS
                and not any(f.action == action and f.when == "after" for f in CONTROL.faults)):
            return app(environ, start_response)

        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        chunks = b"".join(app(environ, capture))
        code = int(captured["status"].split()[0])
        if watched is not None:
            CONSISTENCY.after(watched[0], action, watched[1], code, chunks)
        fault = _slow(CONTROL.fault_for(action, "after"))
        if fault is not None:
            return self._reply(start_response, *_error(service, fault))
        if stale is not None and code < 300:
            chunks = stale.rewrite(chunks)
        status = _aws_status(service, captured["status"], chunks)
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        return self._reply(start_response, status, headers, chunks)

    @staticmethod
    def _reply(start_response: Any, status: str, headers: list, body: bytes) -> list[bytes]:
        start_response(status, headers + [("Content-Length", str(len(body)))])
        return [body]

    def _control(self, environ: dict[str, Any], start_response: Any, path: str) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            if path == "/_carveout/config" and method == "POST":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                raw = environ["wsgi.input"].read(length) if length else b"{}"
                body = json.loads(raw or b"{}")
                for fault in body.get("faults", []):
                    fault["action"] = fault["action"].lower()
                if "throttling" in body:
                    THROTTLING.configure((body.pop("throttling") or {}).get("scale"))
                CONTROL.configure(body)
            elif path == "/_carveout/executions" and method == "POST":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                answer = json.dumps(executions.record(json.loads(environ["wsgi.input"].read(length)))).encode()
                return self._reply(start_response, "200 OK", [("Content-Type", "application/json")], answer)
            elif path == "/_carveout/reset" and method == "POST":
                executions.reset()
                CONTROL.reset()
                CONSISTENCY.reset()
                THROTTLING.configure(None)
            elif path != "/_carveout/config":
                return self._reply(start_response, "404 Not Found", [], b'{"error":"no such path"}')
            payload = json.dumps({**CONTROL.snapshot(), "throttling": THROTTLING.snapshot()}).encode()
            return self._reply(start_response, "200 OK", [("Content-Type", "application/json")], payload)
        except (ValueError, TypeError, KeyError) as err:
            payload = json.dumps({"error": str(err)}).encode()
            return self._reply(start_response, "400 Bad Request", [("Content-Type", "application/json")], payload)
