"""The conformance suite: what every connector must do, run on its gateway's sandbox.

A connector's tests subclass `ConformanceSuite`, name the connector and plug in the runtime's sandbox::

    class TestStripe(SidecarConformance):   # a ConformanceSuite whose sandbox() the runtime provides
        connector = Stripe

and pytest runs: the canonical lifecycle (authorize manual and automatic, partial capture, partial
refund, void, syncs or their 501, the shared declining card, 3-D Secure pending, and completed after the
shopper's answer on the sandbox's 3-D Secure pages, or 501); every request of it,
and of many generated calls, validated against the gateway's official spec; every secret field of the
spec masked; money in every currency back exactly as sent, or 400 before any call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import ClassVar
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.kit.conformance import ApiSpec, Conformance
from connectors.kit.connector import Connector, GatewayRequest, IdKind
from connectors.kit.declines import DeclineCode
from connectors.kit.errors import ErrorType, SidecarError
from connectors.kit.masking import Sensitivity
from connectors.kit.models import (
    CaptureMethod,
    CaptureRequest,
    Card,
    CardPaymentMethod,
    CompleteRequest,
    Money,
    Payment,
    PaymentRequest,
    PaymentStatus,
    Refund,
    RefundRequest,
    RefundStatus,
    VoidRequest,
)
from connectors.kit.money import ISO_EXPONENTS
from connectors.kit.testing import strategies as gen
from connectors.kit.testing.driver import SandboxDriver
from connectors.kit.testing.openapi import load_spec, need_spec, operation_index, servers
from connectors.kit.testing.reports import SpecViolation
from connectors.kit.testing.secret_scan import credential_headers, secret_fields
from connectors.kit.testing.validation import validator_for

# Every sandbox approves these and declines the last with a generic decline (connectors/kit/sandbox.py).
APPROVED_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
# Masking that keeps a field out of every log for good: personal data may be allowlisted, ids are kept.
MASKED_FOR_GOOD = frozenset({Sensitivity.PAN, Sensitivity.DROP, Sensitivity.SECRET})
# Amounts in ISO minor units that every currency's rules meet differently (tens, hundreds, odd units).
ROUND_TRIP_AMOUNTS = (1, 5, 10, 1005, 150_050)
# The most pages a shopper goes through on a sandbox before being sent back (a fingerprint, a challenge).
SHOPPER_PAGES = 5


class ConformanceSuite:
    """Base class of a connector's conformance tests (not collected itself: its name lacks `Test`)."""

    connector: ClassVar[type[Connector]]
    # The lifecycle's amounts, in ISO minor units of `currency()`: a partial capture, then part of it refunded.
    amount: ClassVar[int] = 1000
    captured: ClassVar[int] = 600
    refunded: ClassVar[int] = 250

    # -- what the runtime plugs in ----------------------------------------------------------------

    def sandbox(self) -> SandboxDriver:
        """A fresh driver on the connector's sandbox, with the sandbox's account (the runtime's part)."""
        raise NotImplementedError("a conformance suite needs sandbox(): the runtime's sandbox for this connector")

    def masking_rule(self, name: str) -> Sensitivity | None:
        """How a field of this name is masked in logs; by default the connector's declaration alone.
        The runtime passes its masking engine's answer, built-in rules included."""
        return {k.lower(): v for k, v in self.connector.sensitive_fields.items()}.get(name.lower())

    def masks_header(self, name: str) -> bool:
        return name.lower() in {h.lower() for h in self.connector.secret_headers}

    # -- the canonical lifecycle ------------------------------------------------------------------

    def test_authorize_manual_capture_part_refund_part(self) -> None:
        self.scenario_capture_and_refund(self.sandbox())

    def test_authorize_manual_then_void(self) -> None:
        self.scenario_void(self.sandbox())

    def test_authorize_automatic(self) -> None:
        self.scenario_automatic(self.sandbox())

    def test_the_shared_declining_card_is_a_decline(self) -> None:
        self.scenario_decline(self.sandbox())

    def test_three_ds_leaves_the_payment_pending_with_an_action(self) -> None:
        self.scenario_three_ds(self.sandbox())

    def test_lookups_work_or_are_501_as_declared(self) -> None:
        self.scenario_lookups(self.sandbox())

    def test_three_ds_completes_or_is_501(self) -> None:
        self.scenario_completion(self.sandbox())

    def scenarios(self) -> list[Callable[[SandboxDriver], None]]:
        return [
            self.scenario_capture_and_refund,
            self.scenario_void,
            self.scenario_automatic,
            self.scenario_decline,
            self.scenario_three_ds,
            self.scenario_lookups,
            self.scenario_completion,
        ]

    def scenario_capture_and_refund(self, gw: SandboxDriver) -> None:
        c, ctx, whole = self.connector(), gw.context(), self.money(self.amount)
        payment = self.authorized(gw, CaptureMethod.MANUAL)
        assert payment.status is PaymentStatus.AUTHORIZED, _shown(payment)
        self.sync_shows(gw, payment.id, PaymentStatus.AUTHORIZED, amount=whole)

        part = self.money(self.captured)
        captured, _ = gw.run(c.capture(payment.id, CaptureRequest(amount=part), ctx))
        assert captured.id == payment.id, _shown(captured)
        if captured.status is PaymentStatus.CAPTURE_INITIATED:  # settles later (Adyen: the answer is the capture's)
            assert captured.amount in (part, whole) and captured.captured in (None, part), _shown(captured)
        else:
            assert captured.status is PaymentStatus.PARTIALLY_CHARGED, _shown(captured)
            assert (captured.amount, captured.captured) == (whole, part), _shown(captured)
        if captured.operation_id:
            self.check_id("capture", captured.operation_id)
        self.sync_shows(gw, payment.id, PaymentStatus.PARTIALLY_CHARGED, captured=part)

        back = self.money(self.refunded)
        refund, _ = gw.run(c.refund(payment.id, RefundRequest(amount=back), ctx))
        self.check_refund(refund, back, payment.id)
        if c.conformance.lookups:
            synced, _ = gw.run(c.refund_sync(refund.id, ctx))
            self.check_refund(synced, back, payment.id)
            assert synced.id == refund.id, _shown(synced)
            self.sync_shows(gw, payment.id, PaymentStatus.PARTIALLY_CHARGED, captured=part, refunded=back)

    def scenario_void(self, gw: SandboxDriver) -> None:
        payment = self.authorized(gw, CaptureMethod.MANUAL)
        assert payment.status is PaymentStatus.AUTHORIZED, _shown(payment)
        voided, _ = gw.run(self.connector().void(payment.id, VoidRequest(reason="requested_by_customer"), gw.context()))
        assert voided.id == payment.id, _shown(voided)
        assert voided.status in (PaymentStatus.VOIDED, PaymentStatus.VOID_INITIATED), _shown(voided)
        self.sync_shows(gw, payment.id, PaymentStatus.VOIDED)

    def scenario_automatic(self, gw: SandboxDriver) -> None:
        whole = self.money(self.amount)
        payment = self.authorized(gw, CaptureMethod.AUTOMATIC)
        assert payment.status is PaymentStatus.CHARGED, _shown(payment)
        assert (payment.amount, payment.captured) == (whole, whole), _shown(payment)
        self.sync_shows(gw, payment.id, PaymentStatus.CHARGED, amount=whole, captured=whole)

    def scenario_decline(self, gw: SandboxDriver) -> None:
        payment = self.authorized(gw, CaptureMethod.MANUAL, card=DECLINED_CARD)
        assert payment.status is PaymentStatus.AUTHORIZATION_FAILED, _shown(payment)
        assert payment.error is not None and payment.error.code == DeclineCode.CARD_DECLINED, _shown(payment)

    def scenario_three_ds(self, gw: SandboxDriver) -> None:
        card = self.connector.conformance.three_ds_card
        payment = self.authorized(gw, CaptureMethod.MANUAL, card=card or APPROVED_CARD, three_ds=None if card else True)
        assert payment.status is PaymentStatus.AUTHENTICATION_PENDING, _shown(payment)
        assert payment.next_action is not None, _shown(payment)

    def scenario_completion(self, gw: SandboxDriver) -> None:
        """A connector that completes payments: the shopper authenticates on the sandbox (`shopper_completes`)
        and the completion gives the payment authorized, with its id. One that does not (it leaves
        `Connector.complete` to the base class) answers 501 unsupported_operation, having sent nothing."""
        c, ctx = self.connector(), gw.context()
        card = c.conformance.three_ds_card
        payment = self.authorized(gw, CaptureMethod.MANUAL, card=card or APPROVED_CARD, three_ds=None if card else True)
        if type(c).complete is Connector.complete:
            before = len(gw.exchanges)
            with pytest.raises(SidecarError) as refused:
                gw.run(c.complete(CompleteRequest(payment_id=payment.id), ctx))
            assert refused.value.type is ErrorType.UNSUPPORTED_OPERATION and refused.value.status == 501
            assert len(gw.exchanges) == before, "a completion the connector does not make sent a request anyway"
            return
        completed, _ = gw.run(c.complete(self.shopper_completes(gw, payment), ctx))
        assert completed.status is PaymentStatus.AUTHORIZED and completed.id is not None, _shown(completed)
        assert payment.id in (None, completed.id), _shown(completed)
        self.check_id("payment", completed.id)
        self.sync_shows(gw, completed.id, PaymentStatus.AUTHORIZED, amount=self.money(self.amount))

    def shopper_completes(self, gw: SandboxDriver, payment: Payment) -> CompleteRequest:
        """The shopper's side on the sandbox, by the shared 3-D Secure pages' rules (connectors/kit/sandbox_wire.py):
        the redirect's page is answered `outcome=complete`, step after step, until it sends the shopper back;
        what the gateway added to the return URL is the completion's `details`. A connector whose sandbox has
        pages of its own overrides this."""
        action = payment.next_action
        assert action is not None and action.type == "redirect" and action.url, _shown(payment)
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        for _ in range(SHOPPER_PAGES):
            # Sent as the shopper's browser would: not a gateway call, so neither checked nor recorded.
            answer = gw.send(GatewayRequest("POST", action.url, form, b"outcome=complete"))
            location = next((v for k, v in answer.headers.items() if k.lower() == "location"), None)
            if answer.status in (302, 303) and location:
                return CompleteRequest(payment_id=payment.id, details=dict(parse_qsl(urlsplit(location).query)))
            assert answer.status == 200, f"the 3-D Secure page answered HTTP {answer.status}"
        raise AssertionError(f"the 3-D Secure page did not send the shopper back after {SHOPPER_PAGES} answers")

    def scenario_lookups(self, gw: SandboxDriver) -> None:
        """A gateway with lookups reads an authorized payment back (the other scenarios read the rest); one
        without answers 501 unsupported_operation, having sent nothing, for payments and refunds alike."""
        c, ctx = self.connector(), gw.context()
        payment = self.authorized(gw, CaptureMethod.MANUAL)
        if c.conformance.lookups:
            self.sync_shows(gw, payment.id, PaymentStatus.AUTHORIZED, amount=self.money(self.amount))
            return
        before = len(gw.exchanges)
        for lookup in (lambda: c.sync(payment.id, ctx), lambda: c.refund_sync(payment.id, ctx)):
            with pytest.raises(SidecarError) as refused:
                gw.run(lookup())
            assert refused.value.type is ErrorType.UNSUPPORTED_OPERATION and refused.value.status == 501
        assert len(gw.exchanges) == before, "a lookup the connector declares it has not sent a request anyway"

    # -- the official spec ------------------------------------------------------------------------

    def test_the_declared_spec_exists_and_names_real_operations(self) -> None:
        spec = self.api_spec()
        index = {op for file in spec.files for op in operation_index(file)}
        unknown = sorted(set(spec.operations) - index)
        assert not unknown, f"{', '.join(spec.files)} have no operation {unknown}"
        schemas = {name for file in spec.files for name in load_spec(file).get("components", {}).get("schemas", {})}
        assert set(spec.schemas) <= spec.operations, "ApiSpec.schemas names an operation not in operations"
        assert all(s in schemas for s in spec.schemas.values()), f"a declared schema is not in {spec.file}"
        base = self.connector.default_base_url.rstrip("/")
        for file in spec.files:
            assert base in servers(load_spec(file)), f"{base} is none of {file}'s servers"

    def test_lifecycle_requests_match_the_spec(self) -> None:
        spec = self.api_spec()
        sent: set[str] = set()
        for scenario in self.scenarios():
            try:
                scenario(self.checked_sandbox(spec, sent))
            except SpecViolation:
                raise
            except AssertionError:
                pass  # the scenario's own test reports what the connector or its sandbox did wrong
        assert sent, "the lifecycle sent nothing"

    # Each subclass runs this one test function on its own connector: hypothesis sees several executors.
    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
    )
    @given(data=st.data())
    def test_generated_calls_match_the_spec(self, data: st.DataObject) -> None:
        """Every request built from any canonical call (customers, addresses, metadata, descriptors, 3-D
        Secure, idempotency keys, follow-ups) validates. Refusals with 400 and gateway errors are fine:
        only what was sent is judged."""
        spec = self.api_spec()
        c, gw = self.connector(), self.checked_sandbox(spec, set())
        ctx = gw.context(data.draw(gen.idempotency_keys, "idempotency key"))
        amounts = gen.money_in(self.common_currencies())
        req = data.draw(gen.payment_requests_with(gen.addresses, amounts), "payment")
        payment = _outcome(lambda: gw.run(c.authorize(req, ctx))[0])
        if not (isinstance(payment, Payment) and payment.id):
            payment = self.authorized(gw, CaptureMethod.MANUAL)
        for call in (
            lambda: c.capture(payment.id, data.draw(gen.captures, "capture"), ctx),
            lambda: c.refund(payment.id, data.draw(gen.refunds, "refund"), ctx),
            lambda: c.void(payment.id, data.draw(gen.voids, "void"), ctx),
            lambda: c.sync(payment.id, ctx),
        ):
            _outcome(lambda call=call: gw.run(call()))

    def checked_sandbox(self, spec: ApiSpec, sent: set[str]) -> SandboxDriver:
        """A sandbox driver that validates each request before sending it; `sent` collects the operations."""
        gw = self.sandbox()
        validator = validator_for(spec)

        def check(request: GatewayRequest) -> None:
            op = validator.check_request(request, gw.base_url, spec.schemas)
            if op.operation_id not in spec.operations:
                raise SpecViolation(
                    spec.file, request.method, op.template, [f"{op.operation_id} is not among the declared operations"]
                )
            sent.add(op.operation_id)

        gw.inspect = check
        return gw

    # -- secrets ----------------------------------------------------------------------------------

    def test_secret_fields_of_the_spec_are_masked(self) -> None:
        spec = self.api_spec()
        found = {name: places for file in spec.files for name, places in secret_fields(file).items()}
        unmasked = {
            name: places[0]
            for name, places in found.items()
            if name not in spec.not_secret and self.masking_rule(name) not in MASKED_FOR_GOOD
        }
        assert not unmasked, (
            f"secret fields of {spec.file} the connector does not declare in sensitive_fields "
            f"(or ApiSpec.not_secret, with a reason): {unmasked}"
        )
        stale = sorted(set(spec.not_secret) - set(found))
        assert not stale, f"not_secret names fields {spec.file} does not have as secret-looking: {stale}"

    def test_credential_headers_are_masked(self) -> None:
        sent = sorted(self.connector().auth_headers(self.sandbox().credentials))
        assert sent and all(self.masks_header(h) for h in sent), f"credential headers {sent} are not all masked"

    def test_credential_headers_are_the_specs(self) -> None:
        spec = self.api_spec()
        schemes = {h.lower() for file in spec.files for h in credential_headers(file)}
        sent = {h.lower() for h in self.connector().auth_headers(self.sandbox().credentials)}
        assert sent <= schemes, f"{sorted(sent)} are not the headers of {spec.file}'s security schemes"
        unmasked = [h for h in sorted(schemes) if not self.masks_header(h)]
        assert not unmasked, f"the spec's credential headers {unmasked} are not masked"

    # -- money ------------------------------------------------------------------------------------

    def test_money_round_trips_in_every_currency(self) -> None:
        """Every active ISO 4217 currency: the connector's own come back from its sandbox as exactly the app's
        amount through authorize, capture and refund, or are 400 before any call; the others are 400 too."""
        gw, c = self.sandbox(), self.connector()
        ctx = gw.context()
        for currency in sorted(ISO_EXPONENTS):
            for minor in ROUND_TRIP_AMOUNTS:
                app = Money(minor=minor, currency=currency)
                before = len(gw.exchanges)
                try:
                    payment, _ = gw.run(c.authorize(self.payment(app, CaptureMethod.MANUAL, APPROVED_CARD), ctx))
                except SidecarError as e:
                    assert e.status == 400 and e.type is ErrorType.INVALID_REQUEST, f"{app}: {e.type} {e.message}"
                    assert len(gw.exchanges) == before, f"{app} refused after a call was sent"
                    continue
                assert currency in c.currencies.exponents, f"{app}: sent, yet not one of the connector's currencies"
                assert (payment.status, payment.amount) == (PaymentStatus.AUTHORIZED, app), _shown(payment)
                captured, _ = gw.run(c.capture(payment.id, CaptureRequest(amount=app), ctx))
                got = captured.amount if captured.status is PaymentStatus.CAPTURE_INITIATED else captured.captured
                assert got == app, _shown(captured)
                refund, _ = gw.run(c.refund(payment.id, RefundRequest(amount=app), ctx))
                assert refund.amount == app, _shown(refund)

    # -- helpers ----------------------------------------------------------------------------------

    def api_spec(self) -> ApiSpec:
        declared: Conformance | None = getattr(self.connector, "conformance", None)
        assert declared is not None, f"{self.connector.name} declares no `conformance` (connectors/kit/conformance.py)"
        if declared.spec is None:
            pytest.skip(f"{self.connector.name} declares that its gateway publishes no API description")
        for file in declared.spec.files:
            need_spec(file)
        return declared.spec

    def currency(self) -> str:
        """The lifecycle's currency: USD, else EUR, else the connector's first."""
        own = self.connector.currencies.exponents
        return next((c for c in ("USD", "EUR") if c in own), min(own))

    def common_currencies(self) -> Iterable[str]:
        own = set(self.connector.currencies.exponents) & set(ISO_EXPONENTS)
        return (own & set(gen.COMMON_CURRENCIES)) or own

    def money(self, minor: int) -> Money:
        return Money(minor=minor, currency=self.currency())

    def payment(self, amount: Money, capture: CaptureMethod, card: str, three_ds: bool | None = None) -> PaymentRequest:
        return PaymentRequest(
            reference="conformance",
            amount=amount,
            capture=capture,
            payment_method=CardPaymentMethod(
                type="card", card=Card(number=card, exp_month=12, exp_year=date.today().year + 5, cvc="737")
            ),
            three_ds=three_ds,
            return_url="https://shop.example/return",
        )

    def authorized(
        self, gw: SandboxDriver, capture: CaptureMethod, card: str = APPROVED_CARD, three_ds: bool | None = None
    ) -> Payment:
        """A payment of the lifecycle's amount; checks what every answer to an authorization must carry."""
        whole = self.money(self.amount)
        payment, _ = gw.run(self.connector().authorize(self.payment(whole, capture, card, three_ds), gw.context()))
        assert payment.connector == self.connector.name and payment.reference == "conformance", _shown(payment)
        if payment.id is not None:
            self.check_id("payment", payment.id)
        if payment.status is not PaymentStatus.AUTHENTICATION_PENDING:
            assert payment.id is not None and payment.amount == whole, _shown(payment)
        return payment

    def sync_shows(self, gw: SandboxDriver, payment_id: str, status: PaymentStatus, **money: Money) -> None:
        """Where the gateway can read back, the payment's state and money as the app expects them."""
        if not self.connector.conformance.lookups:
            return
        synced, _ = gw.run(self.connector().sync(payment_id, gw.context()))
        assert (synced.id, synced.status) == (payment_id, status), _shown(synced)
        for name, expected in money.items():
            assert getattr(synced, name) == expected, f"{name}: {_shown(synced)}"

    def check_refund(self, refund: Refund, amount: Money, payment_id: str) -> None:
        assert refund.status in (RefundStatus.SUCCEEDED, RefundStatus.PENDING), _shown(refund)
        assert refund.amount == amount and refund.payment_id in (None, payment_id), _shown(refund)
        self.check_id("refund", refund.id)

    def check_id(self, kind: IdKind, value: str) -> None:
        """The gateway's ids pass the connector's own id pattern, which refuses anything else with 400."""
        pattern = self.connector.id_patterns.get(kind)
        assert pattern is None or pattern.fullmatch(value), f"{kind} id {value!r} is not in {pattern.pattern}"


def _outcome[T](call: Callable[[], T]) -> T | SidecarError:
    """The call's result, or the API error it ended in; anything else is a bug and propagates."""
    try:
        return call()
    except SidecarError as e:
        return e


def _shown(item: Payment | Refund) -> str:
    return item.model_dump_json(exclude_none=True)
