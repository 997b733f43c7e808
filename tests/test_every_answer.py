"""Every answer a gateway can give has a defined result (API.md v1.1, "Outcomes of every error after a
request was sent"): each response example in the gateways' official specs, and every status with a
result, an error, HTML, an empty, a truncated and a broken-off body. First through the connectors'
parsing, then through the real `sidecar run` against a fake gateway: each gives a Payment, a Refund or
a typed error with its outcome, never an internal error. The counts are printed at the end."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from calls import VISA, payment
from harness import FakeGateway, SidecarProcess
from strategies import context, drive, json_response

from connectors.adyen.codes import REFUSAL_REASONS, UNCONFIRMED_REFUSAL_REASONS
from connectors.adyen.connector import Adyen, AdyenAccount
from connectors.kit.connector import Connector
from connectors.kit.errors import HTTP_STATUS, ErrorType, SidecarError
from connectors.kit.models import (
    CaptureRequest,
    CompleteRequest,
    ErrorBody,
    Money,
    Payment,
    PaymentRequest,
    PaymentStatus,
    Refund,
    RefundRequest,
    VoidRequest,
)
from connectors.kit.testing import specs_dir
from connectors.stripe.codes import CARD_ERROR_CODES, DECLINE_CODES
from connectors.stripe.connector import Stripe, StripeCredentials

TALLY: Counter[str] = Counter()

# --- the answers -----------------------------------------------------------------------------------

# Adyen's spec paths whose answers a connector operation reads.
ADYEN_OPERATIONS = {
    "/payments": "authorize",
    "/payments/details": "complete",
    "/payments/{paymentPspReference}/captures": "capture",
    "/payments/{paymentPspReference}/cancels": "void",
    "/payments/{paymentPspReference}/refunds": "refund",
}


SPECS_DIR = specs_dir()
if not SPECS_DIR.is_dir():
    pytest.skip(f"{SPECS_DIR} is absent: this test reads the gateways' official specs", allow_module_level=True)


def _load(name: str) -> dict[str, Any]:
    return json.loads((SPECS_DIR / name).read_text())


def adyen_examples() -> list[tuple[str, str, int, Any]]:
    """(label, operation, status, body) for every response example of those paths in Adyen's spec."""
    spec = _load("adyen-checkout-v71.openapi.json")

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            _, section, name = node["$ref"].rsplit("/", 2)
            node = spec["components"][section][name]
        return node

    found = []
    for path, operation in ADYEN_OPERATIONS.items():
        for status, response in spec["paths"][path]["post"]["responses"].items():
            examples = resolve(response).get("content", {}).get("application/json", {}).get("examples", {})
            for name, example in examples.items():
                found.append((f"adyen {path} {status} {name}", operation, int(status), resolve(example)["value"]))
    return found


def stripe_answers() -> list[tuple[str, str, int, Any]]:
    """Stripe's spec has no response examples: its answers built from the spec's own schemas. Every error
    type of `api_errors` at the statuses Stripe documents for it, every decline and card error code,
    every PaymentIntent status, every next_action type, every refund status."""
    schemas = _load("stripe.openapi.json")["components"]["schemas"]
    answers: list[tuple[str, str, int, Any]] = []
    statuses = {  # https://docs.stripe.com/api/errors
        "api_error": (500, 502, 503),
        "card_error": (402,),
        "idempotency_error": (400,),
        "invalid_request_error": (400, 401, 403, 404, 409, 429),
    }
    for kind in schemas["api_errors"]["properties"]["type"]["enum"]:
        for status in statuses[kind]:
            error = {"error": {"type": kind, "message": f"a {kind}"}}
            answers.append((f"stripe error {kind} {status}", "capture", status, error))
    pi_statuses = schemas["payment_intent"]["properties"]["status"]["enum"]
    for status in pi_statuses:
        answers.append((f"stripe payment_intent {status}", "sync", 200, _intent(status)))
    for kind in schemas["payment_intent_next_action"]["properties"]:
        if kind != "type":
            next_action = {"type": kind, kind: {"url": "https://stripe.example/action"}}
            answers.append((f"stripe next_action {kind}", "sync", 200, _intent("requires_action", next_action)))
    for code in [*DECLINE_CODES, "a_code_stripe_may_add"]:
        error = {"type": "card_error", "code": "card_declined", "decline_code": code, "message": "Declined."}
        answers.append((f"stripe decline {code}", "sync", 402, {"error": {**error, "payment_intent": _intent()}}))
    for code in CARD_ERROR_CODES:
        error = {"type": "card_error", "code": code, "message": "Declined."}
        answers.append((f"stripe card error {code}", "sync", 402, {"error": {**error, "payment_intent": _intent()}}))
    # The refund schema's status has no enum; its description names these.
    for status in ("pending", "requires_action", "succeeded", "failed", "canceled"):
        answers.append((f"stripe refund {status}", "refund_sync", 200, _refund(status)))
    return answers


def _intent(status: str = "requires_payment_method", next_action: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": "pi_1",
        "object": "payment_intent",
        "status": status,
        "amount": 1000,
        "currency": "eur",
        "amount_received": 1000 if status == "succeeded" else 0,
        "metadata": {"reference": "order-42"},
        "next_action": next_action,
    }


def _refund(status: str = "succeeded") -> dict[str, Any]:
    failure = "expired_or_canceled_card" if status == "failed" else None
    return {
        "id": "re_1",
        "object": "refund",
        "status": status,
        "amount": 500,
        "currency": "eur",
        "payment_intent": "pi_1",
        "failure_reason": failure,
    }


SPEC_ANSWERS = [("adyen", *a) for a in adyen_examples()] + [("stripe", *a) for a in stripe_answers()]


def is_result(status: int, body: Any) -> bool:
    """A success, or Stripe's decline that carries its PaymentIntent: both give a Payment or Refund."""
    return 200 <= status < 300 or (status == 402 and "payment_intent" in body.get("error", {}))


def expected_for_error_status(connector: str, status: int, body: Any) -> tuple[str, str]:
    """(type, outcome) a gateway's error answer gives."""
    if status in (401, 403):
        return "gateway_authentication", "not_processed"
    if status == 429:
        return "gateway_rate_limited", "not_processed"
    if status >= 500:
        return "gateway_error", "unknown"
    if connector == "stripe" and status == 409:
        return "request_in_progress", "unknown"
    if connector == "stripe" and body["error"]["type"] == "idempotency_error":
        return "idempotency_conflict", "not_processed"
    return ("not_found" if status == 404 else "gateway_rejected"), "not_processed"


# --- through the connectors' parsing ---------------------------------------------------------------

ADYEN_ACCOUNT = AdyenAccount(api_key="AQEkey", merchant_account="ShopECOM", return_url="https://shop.example/r")
STRIPE_CREDS = StripeCredentials(api_key="sk_test_every_answer")
EUR5 = Money(minor=500, currency="EUR")
AUTHORIZE = PaymentRequest.model_validate_json(json.dumps(payment(VISA, currency="EUR")))
# What the shopper's return gave: Adyen's redirectResult; Stripe names the PaymentIntent.
RETURNED = {"adyen": {"details": {"redirectResult": "X6XtfGC3!Y"}}, "stripe": {"payment_id": "pi_1"}}


# Ids in each gateway's own format: another id is a 400 before any call.
PAYMENT_ID = {"stripe": "pi_1", "adyen": "PSP0000000000001"}
REFUND_ID = {"stripe": "re_1", "adyen": "PSP0000000000002"}


def exchange_for(connector: str, operation: str):
    impl: Connector = Adyen() if connector == "adyen" else Stripe()
    ctx = context(ADYEN_ACCOUNT if connector == "adyen" else STRIPE_CREDS, "https://gateway.test/v71")
    pid = PAYMENT_ID[connector]
    return {
        "authorize": lambda: impl.authorize(AUTHORIZE, ctx),
        "complete": lambda: impl.complete(CompleteRequest.model_validate(RETURNED[connector]), ctx),
        "capture": lambda: impl.capture(pid, CaptureRequest(amount=EUR5), ctx),
        "void": lambda: impl.void(pid, VoidRequest(), ctx),
        "refund": lambda: impl.refund(pid, RefundRequest(amount=EUR5), ctx),
        "sync": lambda: impl.sync(pid, ctx),
        "refund_sync": lambda: impl.refund_sync(REFUND_ID[connector], ctx),
    }[operation]()


@pytest.mark.parametrize("connector, label, operation, status, body", SPEC_ANSWERS, ids=[a[1] for a in SPEC_ANSWERS])
def test_every_documented_answer_parses(connector, label, operation, status, body) -> None:
    answer = json_response(status, body)
    try:
        result, _ = drive(exchange_for(connector, operation), lambda _r: answer)
    except SidecarError as e:
        assert not is_result(status, body), f"{label}: a result gave {e.type}: {e.message}"
        assert (e.type.value, e.outcome) == expected_for_error_status(connector, status, body)
        TALLY[f"{connector} examples parsed"] += 1
        return
    assert is_result(status, body), label
    assert isinstance(result, Payment | Refund)
    if isinstance(result, Payment):
        assert result.status is not PaymentStatus.UNRESOLVED, label
        if result.status is PaymentStatus.AUTHENTICATION_PENDING:
            assert result.next_action is not None, label
        if operation in ("authorize", "complete") and connector == "adyen":
            assert result.id == body.get("pspReference")  # None for the action answers that have none
    TALLY[f"{connector} examples parsed"] += 1


# --- through the real process ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway() -> Iterator[FakeGateway]:
    fake = FakeGateway()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory, gateway, request) -> Iterator[httpx.Client]:
    config = {
        "connectors": {
            "stripe": {"base_url": gateway.url, "accounts": {"default": {"api_key": "sk_test_every_answer"}}},
            "adyen": {
                "base_url": gateway.url + "/v71",
                "accounts": {
                    "default": {
                        "api_key": "AQEkey",
                        "merchant_account": "ShopECOM",
                        "return_url": "https://shop.example/r",
                    }
                },
            },
        }
    }
    proc = SidecarProcess(tmp_path_factory.mktemp("every-answer"), config).start()
    with proc.client() as client:  # one client: a new one per call costs more than the call
        yield client
    assert proc.stop() == 0
    assert "Traceback" not in proc.output(), "an answer reached a bug"
    report = request.config.pluginmanager.get_plugin("terminalreporter")
    with request.config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
        for line in summary():
            report.write_line(line)


def summary() -> list[str]:
    return [
        f"answers: stripe {TALLY['stripe examples parsed']} answers built from its spec's schemas, "
        f"adyen {TALLY['adyen examples parsed']} response examples of its spec: parsed; "
        f"through the real process {TALLY['stripe examples sent']} + {TALLY['adyen examples sent']}",
        f"statuses tried through the real process: {TALLY['statuses']} "
        f"({TALLY['status calls']} calls: {TALLY['status calls result']} results, "
        f"{TALLY['status calls error']} typed errors with their outcome)",
        f"decline codes mapped: stripe {len(DECLINE_CODES)} decline codes + {len(CARD_ERROR_CODES)} card error "
        f"codes; adyen {len(REFUSAL_REASONS)} refusal reasons confirmed on Adyen's page + "
        f"{len(UNCONFIRMED_REFUSAL_REASONS)} applied only with their name",
    ]


def calls(connector: str) -> dict[str, tuple[str, str, Any]]:
    pid, eur5 = PAYMENT_ID[connector], {"amount": {"minor": 500, "currency": "EUR"}}
    return {
        "authorize": ("POST", "/v1/payments", payment(VISA, currency="EUR")),
        "complete": ("POST", "/v1/payments/complete", RETURNED[connector]),
        "capture": ("POST", f"/v1/payments/{pid}/capture", eur5),
        "void": ("POST", f"/v1/payments/{pid}/void", {}),
        "refund": ("POST", f"/v1/payments/{pid}/refunds", eur5),
        "sync": ("GET", f"/v1/payments/{pid}", None),
        "refund_sync": ("GET", f"/v1/refunds/{REFUND_ID[connector]}", None),
    }


ERROR_TYPES = {t.value for t in ErrorType} - {ErrorType.INTERNAL.value}


def call(sidecar: httpx.Client, connector: str, operation: str) -> tuple[int, dict[str, Any], Any]:
    """One canonical call; its status, headers and body, checked to be a result or a typed error."""
    method, path, body = calls(connector)[operation]
    r = sidecar.request(method, path, json=body, headers={"X-Connector": connector})
    if r.status_code == 200:
        model = Refund if operation in ("refund", "refund_sync") else Payment
        return 200, dict(r.headers), model.model_validate_json(r.content)
    error = ErrorBody.model_validate_json(r.content).error
    assert error.type in ERROR_TYPES, r.text
    assert r.status_code == HTTP_STATUS[ErrorType(error.type)]
    assert error.outcome is not None, f"{connector} {operation}: an error after a send without outcome: {r.text}"
    return r.status_code, dict(r.headers), error


@pytest.mark.parametrize("connector, label, operation, status, body", SPEC_ANSWERS, ids=[a[1] for a in SPEC_ANSWERS])
def test_every_documented_answer_through_the_real_process(
    sidecar, gateway, connector, label, operation, status, body
) -> None:
    gateway.answer(status, json.dumps(body).encode())
    code, _, result = call(sidecar, connector, operation)
    if is_result(status, body):
        assert code == 200, f"{label}: {result}"
    else:
        assert (result.type, result.outcome) == expected_for_error_status(connector, status, body), label
    TALLY[f"{connector} examples sent"] += 1


def test_unmapped_decline_codes_are_counted(sidecar, gateway) -> None:
    error = {"type": "card_error", "code": "card_declined", "decline_code": "a_code_stripe_may_add"}
    gateway.answer(402, json.dumps({"error": {**error, "message": "Declined.", "payment_intent": _intent()}}).encode())
    code, _, payment_ = call(sidecar, "stripe", "sync")
    assert code == 200 and payment_.error.code == "card_declined"
    metrics = sidecar.get("/metrics").text
    line = 'sidecar_unmapped_declines_total{code="a_code_stripe_may_add",connector="stripe"}'
    assert any(m.startswith(line) and float(m.split()[-1]) >= 1 for m in metrics.splitlines()), metrics


# Every status class, with the ones gateways give meaning to.
STATUSES = [200, 201, 202, 204, 301, 302, 400, 401, 402, 403, 404, 405, 407, 409, 410, 422, 429, 500, 502, 503, 504]
OPERATIONS = {
    "stripe": ["authorize", "complete", "capture", "void", "refund", "sync", "refund_sync"],
    "adyen": ["authorize", "complete", "capture", "void", "refund"],
}


def result_body(connector: str, operation: str) -> dict[str, Any]:
    if connector == "stripe":
        return _refund() if operation in ("refund", "refund_sync") else _intent("requires_capture")
    if operation in ("authorize", "complete"):
        return {"pspReference": "PSP0000000000001", "resultCode": "Authorised", "merchantReference": "order-42"}
    return {
        "pspReference": "MOD1",
        "paymentPspReference": "PSP0000000000001",
        "merchantAccount": "ShopECOM",
        "status": "received",
    }


def error_body(connector: str, status: int) -> dict[str, Any]:
    if connector == "stripe":
        return {"error": {"type": "api_error" if status >= 500 else "invalid_request_error", "message": "no"}}
    return {"status": status, "errorCode": "000", "message": "no", "errorType": "validation"}


def bodies(connector: str, operation: str, status: int) -> dict[str, tuple[bytes, str, bool]]:
    """The kinds of body a gateway (or anything in front of it) can answer with: (body, type, cut)."""
    if status == 204:  # a 204 has no body
        return {"empty": (b"", "application/json", False)}
    result = json.dumps(result_body(connector, operation)).encode()
    return {
        "result": (result, "application/json", False),
        "error": (json.dumps(error_body(connector, status)).encode(), "application/json", False),
        "html": (b"<html><body><h1>Bad Gateway</h1></body></html>", "text/html", False),
        "empty": (b"", "application/json", False),
        "truncated": (result[: len(result) // 2], "application/json", False),
        "cut": (result, "application/json", True),  # a longer body announced, the connection closed
    }


def expected_for(connector: str, operation: str, status: int, kind: str) -> tuple[int, str | None, str | None]:
    """(HTTP status, error type, outcome) the app gets; (200, None, None) for a result."""
    if status in (401, 403):
        return 502, "gateway_authentication", "not_processed"
    if status == 429:
        return 503, "gateway_rate_limited", "not_processed"
    if status == 407:
        return 502, "proxy_error", "not_sent"
    modification = connector == "adyen" and operation not in ("authorize", "complete")
    if kind == "result" and (status == 200 or (modification and status == 201)):
        return 200, None, None
    if kind == "error" and 400 <= status < 500:
        if connector == "stripe" and status == 409:
            return 409, "request_in_progress", "unknown"
        if status == 404:
            return 404, "not_found", "not_processed"
        return 422, "gateway_rejected", "not_processed"
    return 502, "gateway_error", "unknown"


@pytest.mark.parametrize("status", STATUSES)
def test_every_status_and_body_through_the_real_process(sidecar, gateway, status) -> None:
    TALLY["statuses"] += 1
    for connector, operations in OPERATIONS.items():
        for operation in operations:
            for kind, (body, content_type, cut) in bodies(connector, operation, status).items():
                gateway.answer(status, body, content_type, headers={"Retry-After": "30"}, cut=cut)
                code, headers, result = call(sidecar, connector, operation)
                where = f"{connector} {operation} HTTP {status} {kind}"
                want_status, want_type, want_outcome = expected_for(connector, operation, status, kind)
                if want_type is None:
                    assert code == 200, f"{where}: {result}"
                else:
                    assert (code, result.type, result.outcome) == (want_status, want_type, want_outcome), (
                        f"{where}: {result}"
                    )
                    assert headers.get("retry-after") == ("30" if status == 429 else None), where
                TALLY["status calls"] += 1
                TALLY["status calls result" if code == 200 else "status calls error"] += 1
