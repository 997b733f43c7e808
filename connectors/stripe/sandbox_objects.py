"""Stripe's sandbox beyond a payment's own flow, as the official SDKs call it: Customers, SetupIntents,
PaymentMethods attached to customers, PaymentIntent updates and the list endpoints, on the engine's keyed
objects, card checks and lists. What each takes and answers: the README, "Sandbox test rules".

``sandbox.py`` (the codec) routes these paths here, after authentication and the parameter check, and
answers with what this module renders; this module reads and writes Stripe's wire with the codec's helpers.
Each uses the other only inside functions, so that either may be imported first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from connectors.kit import sandbox as kit
from connectors.kit import sandbox_wire as wire
from connectors.stripe import sandbox as payments

__all__ = ["ID_PREFIXES", "PARAMS", "ROUTES", "expandable", "operation", "refused", "render"]

# Method, path, name and the object its id names, as the codec's own routes are written.
ROUTES = [
    ("POST", r"/v1/customers", "create_customer", "customer"),
    ("GET", r"/v1/customers", "list_customers", "list"),
    ("GET", r"/v1/customers/([^/]+)", "get_customer", "customer"),
    ("POST", r"/v1/customers/([^/]+)", "update_customer", "customer"),
    ("GET", r"/v1/customers/([^/]+)/payment_methods", "list_customer_payment_methods", "customer"),
    ("POST", r"/v1/payment_methods/([^/]+)/attach", "attach_payment_method", "payment_method"),
    ("GET", r"/v1/payment_methods", "list_payment_methods", "list"),
    ("POST", r"/v1/payment_intents/([^/]+)", "update_intent", "payment_intent"),
    ("GET", r"/v1/payment_intents", "list_intents", "list"),
    ("GET", r"/v1/refunds", "list_refunds", "list"),
    ("POST", r"/v1/setup_intents", "create_setup", "setup_intent"),
    ("GET", r"/v1/setup_intents", "list_setups", "list"),
    ("GET", r"/v1/setup_intents/([^/]+)", "get_setup", "setup_intent"),
    ("POST", r"/v1/setup_intents/([^/]+)", "update_setup", "setup_intent"),
    ("POST", r"/v1/setup_intents/([^/]+)/confirm", "confirm_setup", "setup_intent"),
    ("POST", r"/v1/setup_intents/([^/]+)/cancel", "cancel_setup", "setup_intent"),
]
_KINDS = {name: kind for _, _, name, kind in ROUTES}
_PAGING = "created ending_before expand limit starting_after "
# Stripe's own top-level parameters of each endpoint, from its OpenAPI spec.
_PARAM_NAMES = {
    "create_customer": "address balance cash_balance coupon description email expand invoice_prefix "
    "invoice_settings metadata name next_invoice_sequence payment_method phone preferred_locales promotion_code "
    "shipping source tax tax_exempt tax_id_data test_clock",
    "list_customers": _PAGING + "email test_clock",
    "get_customer": "expand",
    "update_customer": "address balance bank_account card cash_balance coupon default_alipay_account "
    "default_bank_account default_card default_source description email expand invoice_prefix invoice_settings "
    "metadata name next_invoice_sequence phone preferred_locales promotion_code shipping source tax tax_exempt",
    "list_customer_payment_methods": _PAGING + "type",
    "attach_payment_method": "customer expand",
    "list_payment_methods": _PAGING + "customer type",
    "update_intent": "amount application_fee_amount capture_method currency customer description expand metadata "
    "payment_method payment_method_data payment_method_options payment_method_types receipt_email "
    "setup_future_usage shipping statement_descriptor statement_descriptor_suffix transfer_data transfer_group",
    "list_intents": _PAGING + "customer",
    "list_refunds": _PAGING + "charge payment_intent",
    "create_setup": "attach_to_self automatic_payment_methods confirm customer description expand flow_directions "
    "mandate_data metadata on_behalf_of payment_method payment_method_data payment_method_options "
    "payment_method_types return_url single_use usage",
    "list_setups": _PAGING + "attach_to_self customer payment_method",
    "get_setup": "client_secret expand",
    "update_setup": "attach_to_self customer description expand flow_directions metadata payment_method "
    "payment_method_data payment_method_options payment_method_types",
    "confirm_setup": "client_secret expand mandate_data payment_method payment_method_data payment_method_options "
    "return_url",
    "cancel_setup": "cancellation_reason expand",
}
PARAMS = {name: frozenset(names.split()) for name, names in _PARAM_NAMES.items()}
# What each list holds: the engine's records, and the object whose expandable fields ``data.<field>`` names.
_LISTS = {
    "list_customers": ("customer", "customer"),
    "list_customer_payment_methods": ("card", "payment_method"),
    "list_payment_methods": ("card", "payment_method"),
    "list_intents": ("payment", "payment_intent"),
    "list_refunds": ("payment", "refund"),
    "list_setups": ("setup_intent", "setup_intent"),
}
_EXPANDABLE = {"setup_intent": ("payment_method",)}
ID_PREFIXES = {"customer": "cus_", "setup_intent": "seti_1"}
_CUSTOMER_FIELDS = (
    "address",
    "description",
    "email",
    "invoice_settings",
    "name",
    "phone",
    "preferred_locales",
    "shipping",
)
_SHIPPING_FIELDS = ("address", "carrier", "name", "phone", "tracking_number")
# A SetupIntent's statuses in the engine's words where they differ (a failed check awaits another card).
_SETUP_STATUS = {kit.OperationState.FAILED: "requires_payment_method"}
_UNFINISHED = frozenset({"requires_payment_method", "requires_confirmation", kit.OperationState.FAILED})
_SETUP_3DS = (
    "The sandbox does not simulate 3-D Secure on SetupIntents: this card asks for authentication, so the "
    "SetupIntent was declined."
)


def expandable(name: str, kind: str) -> tuple[str, ...]:
    """The fields a request to this route may expand: a list's as ``data.<field>``."""
    if name in _LISTS:
        return tuple(f"data.{field}" for field in expandable("", _LISTS[name][1]))
    return payments._EXPANDABLE.get(kind) or _EXPANDABLE.get(kind, ())


# --- requests ------------------------------------------------------------------------------------


def operation(
    name: str, params: wire.Fields, ref: str, now: float
) -> tuple[kit.Operation, tuple[tuple[str, str], ...]]:
    """The engine operation a request asks for, and the keyed objects it names that must exist."""
    if name in _LISTS:
        _page(params)  # checked now, read again to render
        return kit.ListRecords(_LISTS[name][0]), (("customer", ref),) if ref else ()
    if name in ("get_customer", "get_setup"):
        return kit.GetObject(_KINDS[name], ref), ()
    customer = params.string("customer")
    return _READERS[name](params, ref, now), (("customer", customer),) if customer else ()


def _create_customer(params: wire.Fields, _: str, __: float) -> kit.Operation:
    for name in ("payment_method", "source"):
        if params.get(name) is not None:
            message = f"The sandbox does not simulate `{name}` on Customer creation: attach a PaymentMethod with "
            raise payments._error(message + "POST /v1/payment_methods/{id}/attach.", param=name)
    patch = _customer_patch(params) | {"invoice_prefix": wire.random_token(8, wire.UPPER_ALNUM)}
    return kit.PutObject("customer", patch=patch)


def _update_customer(params: wire.Fields, ref: str, _: float) -> kit.Operation:
    return kit.PutObject("customer", ref, patch=_customer_patch(params))


def _attach_payment_method(params: wire.Fields, ref: str, _: float) -> kit.Operation:
    customer = params.string("customer", required=True)
    return kit.UpdateCard(ref, {"customer": customer}, expect={"customer": None})


def _update_intent(params: wire.Fields, ref: str, now: float) -> kit.Operation:
    amount, currency = payments._money(params, required=False)
    capture = params.choice("capture_method", payments._CAPTURE_METHODS)
    payments._check_descriptor_suffix(params)
    extra = {
        "capture_method": capture,
        "customer": params.string("customer"),
        "payment_method_types": params.strings("payment_method_types") or None,
        "receipt_email": params.string("receipt_email"),
    }
    return kit.UpdatePayment(
        ref,
        amount,
        currency,
        payments._capture_mode(capture) if capture else None,
        payments._pay_with(params, now),
        params.string("description"),
        _metadata_patch(params),
        {key: value for key, value in extra.items() if value is not None},
    )


def _create_setup(params: wire.Fields, _: str, now: float) -> kit.Operation:
    confirm, card = bool(params.boolean("confirm")), payments._pay_with(params, now)
    payments._return_url(params, confirm=confirm)
    if confirm and card is None:
        raise _missing_card()
    patch = _setup_patch(params) | {"secret": wire.random_token(25), "usage": _usage(params) or "off_session"}
    status = "requires_confirmation" if card else "requires_payment_method"
    return kit.PutObject("setup_intent", None, patch, status, card=card, check=confirm, attach="customer")


def _update_setup(params: wire.Fields, ref: str, now: float) -> kit.Operation:
    card = payments._pay_with(params, now)
    status = "requires_confirmation" if card else None
    return kit.PutObject("setup_intent", ref, _setup_patch(params), status, _UNFINISHED, card)


def _confirm_setup(params: wire.Fields, ref: str, now: float) -> kit.Operation:
    payments._return_url(params)  # checked: there is no 3-D Secure redirect to come back from
    card = payments._pay_with(params, now)
    return kit.PutObject("setup_intent", ref, {}, None, _UNFINISHED, card, check=True, attach="customer")


def _cancel_setup(params: wire.Fields, ref: str, _: float) -> kit.Operation:
    reason = params.choice("cancellation_reason", ("abandoned", "duplicate", "requested_by_customer"))
    return kit.PutObject("setup_intent", ref, {"cancellation_reason": reason}, "canceled", _UNFINISHED)


_READERS: dict[str, Callable[[wire.Fields, str, float], kit.Operation]] = {
    "create_customer": _create_customer,
    "update_customer": _update_customer,
    "attach_payment_method": _attach_payment_method,
    "update_intent": _update_intent,
    "create_setup": _create_setup,
    "update_setup": _update_setup,
    "confirm_setup": _confirm_setup,
    "cancel_setup": _cancel_setup,
}


def _unset(value: Any) -> Any:
    """A form value as a merge patch: an empty string unsets, at any depth (Stripe's rule for updates)."""
    if isinstance(value, dict):
        return {key: _unset(item) for key, item in value.items()}
    return None if value == "" else value


def _customer_patch(params: wire.Fields) -> dict[str, Any]:
    _strings(params, ("description", "email", "name", "phone"))
    params.strings("preferred_locales")
    _check_address(params.object("address"))
    shipping = params.object("shipping")
    shipping.only(_SHIPPING_FIELDS)
    _strings(shipping, _SHIPPING_FIELDS[1:])
    _check_address(shipping.object("address"))
    if shipping.data and shipping.get("name") is None:
        raise wire.WireError("missing", shipping.name("name"))
    settings = params.object("invoice_settings")
    settings.only(("custom_fields", "default_payment_method", "footer", "rendering_options"))
    _strings(settings, ("default_payment_method",))
    fields = {name: _unset(params.data[name]) for name in _CUSTOMER_FIELDS if name in params.data}
    if isinstance(given := fields.get("invoice_settings"), dict):  # only its default card is kept
        fields["invoice_settings"] = {k: v for k, v in given.items() if k == "default_payment_method"}
    return fields | _metadata_patch(params, keyed=True)


def _strings(fields: wire.Fields, names: Sequence[str]) -> None:
    for name in names:
        fields.string(name)


def _check_address(address: wire.Fields) -> None:
    address.only(payments._ADDRESS_PARAMS)
    _strings(address, payments._ADDRESS_PARAMS)


def _setup_patch(params: wire.Fields) -> dict[str, Any]:
    fields = {name: _unset(params.data.get(name)) for name in ("customer", "description") if name in params.data}
    if types := params.strings("payment_method_types"):
        fields["payment_method_types"] = types
    return fields | _metadata_patch(params, keyed=True)


def _metadata_patch(params: wire.Fields, *, keyed: bool = False) -> dict[str, Any]:
    """Metadata as a merge patch, checked against Stripe's limits: an empty value unsets its key, an empty
    ``metadata`` every key. ``keyed``: as the ``metadata`` field of a patch, else the metadata itself."""
    if params.data.get("metadata") == "":
        return {"metadata": None} if keyed else {}
    payments._metadata(params)
    patch = {key: value or None for key, value in params.object("metadata").data.items()}
    return ({"metadata": patch} if patch else {}) if keyed else patch


def _usage(params: wire.Fields) -> str | None:
    return params.choice("usage", ("off_session", "on_session"))


def _missing_card() -> payments.StripeError:
    message = (
        "You cannot confirm this SetupIntent because it's missing a payment method. To confirm it, update it "
        "with a payment method or provide one when you confirm."
    )
    return payments._error(message, code="parameter_missing", param="payment_method")


_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "gt": lambda at, value: at > value,
    "gte": lambda at, value: at >= value,
    "lt": lambda at, value: at < value,
    "lte": lambda at, value: at <= value,
}


def _page(params: wire.Fields) -> tuple[int, str | None, str | None, dict[str, int]]:
    """A list request's limit, cursors and ``created`` bounds (an exact time, or gt, gte, lt, lte)."""
    limit = params.integer("limit", minimum=1, maximum=100) or 10
    after, before = params.string("starting_after"), params.string("ending_before")
    if after is not None and before is not None:
        message = "You may only specify one of these parameters: starting_after, ending_before."
        raise payments._error(message, param="ending_before")
    if isinstance(params.get("created"), dict):
        created = params.object("created")
        created.only(_COMPARE)
        bounds = {bound: value for bound in _COMPARE if (value := created.integer(bound)) is not None}
    else:
        exact = params.integer("created")
        bounds = {} if exact is None else {"gte": exact, "lte": exact}
    return limit, after, before, bounds


# --- answers -------------------------------------------------------------------------------------


def render(request: kit.SandboxRequest, context: Any, done: kit.Done) -> dict[str, Any]:
    """The object a request to these routes answers with (a declined SetupIntent raises Stripe's 402)."""
    if context.name in _LISTS:
        return _list(request, context, done.items)
    if done.card is not None:
        return payments._payment_method(done.card)
    if done.payment is not None:
        return payments._intent(done.payment, context.expand, request.base_url)
    assert done.obj is not None
    if done.obj.kind == "customer":
        return _customer(done.obj)
    setup = _setup(done.obj, context.expand)
    if done.obj.decline is not None and context.name in ("create_setup", "confirm_setup"):
        raise payments.StripeError(402, _setup_error(done.obj) | {"setup_intent": setup})
    return setup


def refused(call: kit.Call, refusal: kit.Refusal, base_url: str) -> payments.StripeError | None:
    """Stripe's error for a refusal of these routes, or for a keyed object a request names; None where the
    codec words it as for its own routes."""
    context, code, field = call.context, refusal.code, refusal.field
    required = dict(call.requires)
    if code is kit.ErrorCode.NOT_FOUND and field in required:
        status = 404 if required[field] == context.ref else 400
        message = f"No such {field}: '{required[field]}'"
        return payments._error(message, status=status, code="resource_missing", param=field)
    if context.name not in PARAMS:
        return None
    if code is kit.ErrorCode.NOT_FOUND and field == "ref" and context.kind == "setup_intent":
        message = f"No such setupintent: '{context.ref}'"
        return payments._error(message, status=404, code="resource_missing", param="intent")
    if code is kit.ErrorCode.INVALID_ARGUMENT and field == "card":
        return _missing_card()
    if code is kit.ErrorCode.INVALID_STATE and context.name == "attach_payment_method":
        message = "The payment method you provided has already been attached to a customer."
        return payments._error(message, param="payment_method")
    if code is kit.ErrorCode.INVALID_STATE and refusal.obj is not None:
        verb, status = context.name.removesuffix("_setup"), _setup_status(refusal.obj)
        message = f"You cannot {verb} this SetupIntent because it has a status of {status}."
        setup = _setup(refusal.obj, frozenset())
        return payments._error(message, code="setup_intent_unexpected_state", setup_intent=setup)
    if code is kit.ErrorCode.INVALID_STATE and refusal.payment is not None:
        status = payments._status(refusal.payment)
        message = (
            f"This PaymentIntent's amount, currency, capture_method or payment_method could not be updated "
            f"because it has a status of {status}. You may only update them while it has one of the following "
            "statuses: requires_payment_method, requires_confirmation."
        )
        intent = payments._intent(refusal.payment, frozenset(), base_url)
        return payments._error(message, code="payment_intent_unexpected_state", payment_intent=intent)
    return None


def _list(request: kit.SandboxRequest, context: Any, records: Sequence[Any]) -> dict[str, Any]:
    params = payments._params(request)
    limit, after, before, bounds = _page(params)
    expand = frozenset(field.removeprefix("data.") for field in context.expand)
    items = [item for item in _items(context.name, params, context.ref, records) if _within(item[1], bounds)]
    found = wire.page(items, limit, after=after, before=before, key=lambda item: item[0])
    if found is None:
        param = "starting_after" if after is not None else "ending_before"
        noun = _LISTS[context.name][1]
        message = f"No such {noun}: '{after if after is not None else before}'"
        raise payments._error(message, code="resource_missing", param=param)
    page, more = found
    data = [render_item(expand, request.base_url) for _, _, render_item in page]
    return {"object": "list", "data": data, "has_more": more, "url": request.path}


type _Item = tuple[str, float, Callable[[frozenset[str], str], dict[str, Any]]]


def _items(name: str, params: wire.Fields, ref: str, records: Sequence[Any]) -> list[_Item]:
    """Each record the list's filters keep, newest first: its id, creation time and renderer."""
    customer = ref or params.string("customer")
    if name == "list_intents":
        kept = [p for p in records if customer is None or p.extra.get("customer") == customer]
        return [(p.id, p.created_at, lambda e, b, p=p: payments._intent(p, e, b)) for p in kept]
    if name == "list_refunds":
        intent, charge = params.string("payment_intent"), params.string("charge")
        pairs = [
            (refund, payment)
            for payment in records
            if intent in (None, payment.id) and charge in (None, getattr(payments._charge_attempt(payment), "id", ""))
            for refund in payment.refunds
        ]
        pairs.sort(key=lambda pair: pair[0].created_at, reverse=True)
        return [(r.id, r.created_at, lambda e, b, r=r, p=p: payments._refund(r, p, e, b)) for r, p in pairs]
    if name in ("list_payment_methods", "list_customer_payment_methods"):
        kind = params.string("type")
        kept = [c for c in records if customer in (None, c.extra.get("customer")) and kind in (None, "card")]
        return [(c.id, c.created_at, lambda e, b, c=c: payments._payment_method(c)) for c in kept]
    if name == "list_customers":
        email = params.string("email")
        kept = [o for o in records if email in (None, o.fields.get("email"))]
        return [(o.id, o.created_at, lambda e, b, o=o: _customer(o)) for o in kept]
    method = params.string("payment_method")
    kept = [
        o
        for o in records
        if customer in (None, o.fields.get("customer")) and method in (None, o.card.id if o.card else None)
    ]
    return [(o.id, o.created_at, lambda e, b, o=o: _setup(o, e)) for o in kept]


def _within(created_at: float, bounds: dict[str, int]) -> bool:
    return all(_COMPARE[bound](int(created_at), value) for bound, value in bounds.items())


def _address(address: Any) -> dict[str, Any] | None:
    return {name: address.get(name) for name in payments._ADDRESS_PARAMS} if isinstance(address, dict) else None


def _customer(obj: kit.ObjectRecord) -> dict[str, Any]:
    fields = obj.fields
    shipping = fields.get("shipping")
    if isinstance(shipping, dict):
        shipping = {name: shipping.get(name) for name in _SHIPPING_FIELDS} | {"address": _address(shipping)}
    settings = fields.get("invoice_settings") or {}
    return payments._sorted(
        {
            "id": obj.id,
            "object": "customer",
            "address": _address(fields.get("address")),
            "balance": 0,
            "created": int(obj.created_at),
            "delinquent": False,
            "description": fields.get("description"),
            "email": fields.get("email"),
            "invoice_prefix": fields["invoice_prefix"],
            "invoice_settings": {"custom_fields": None, "footer": None, "rendering_options": None}
            | {"default_payment_method": settings.get("default_payment_method")},
            "livemode": False,
            "metadata": dict(fields.get("metadata") or {}),
            "name": fields.get("name"),
            "next_invoice_sequence": 1,
            "phone": fields.get("phone"),
            "preferred_locales": list(fields.get("preferred_locales") or []),
            "shipping": shipping,
            "tax_exempt": "none",
        },
        "currency default_source discount test_clock",
    )


def _setup_status(obj: kit.ObjectRecord) -> str:
    return _SETUP_STATUS.get(obj.status, obj.status) if obj.status else "requires_payment_method"


def _setup(obj: kit.ObjectRecord, expand: frozenset[str]) -> dict[str, Any]:
    fields, card = obj.fields, obj.card if obj.status != kit.OperationState.FAILED else None
    return payments._sorted(
        {
            "id": obj.id,
            "object": "setup_intent",
            "cancellation_reason": fields.get("cancellation_reason"),
            "client_secret": f"{obj.id}_secret_{fields['secret']}",
            "created": int(obj.created_at),
            "customer": fields.get("customer"),
            "description": fields.get("description"),
            "last_setup_error": _setup_error(obj) if obj.decline else None,
            "livemode": False,
            "metadata": dict(fields.get("metadata") or {}),
            "payment_method": payments._expanded(
                "payment_method", expand, card, lambda: payments._payment_method(card)
            ),
            "payment_method_options": {
                "card": {"mandate_options": None, "network": None, "request_three_d_secure": "automatic"}
            },
            "payment_method_types": list(fields.get("payment_method_types") or ["card"]),
            "status": _setup_status(obj),
            "usage": fields["usage"],
        },
        "application automatic_payment_methods flow_directions latest_attempt mandate next_action on_behalf_of "
        "single_use_mandate",
    )


def _setup_error(obj: kit.ObjectRecord) -> dict[str, Any]:
    assert obj.decline is not None and obj.card is not None
    code, message, param = payments._decline_error(obj.decline)
    message = _SETUP_3DS if obj.decline == kit.DeclineCode.AUTHENTICATION_REQUIRED else message
    decline = {"decline_code": obj.decline, "payment_method": payments._payment_method(obj.card)}
    return payments._error_body(message, code=code, param=param, kind="card_error", **decline)
