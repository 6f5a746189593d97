"""The SAT scalar formats are written once (gigstack_mcp/sat.py, typed for the tool parameters in
models/sat.py): the tool schemas, the guard rails, the audit log's redaction and the embedded sandbox
give the same answer for the same value, and each deliberate difference (the strict RFC against its
shape only) is a named type, not a second copy of the pattern."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from gigstack_mcp import audit, clock, policy, sat
from gigstack_mcp.guards import cfdi
from gigstack_mcp.models import sat as types
from gigstack_mcp.models.clients import ClientFields
from gigstack_mcp.models.invoices import CreateInvoiceParams
from gigstack_mcp.models.payments import RegisterPaymentParams
from gigstack_mcp.models.teams import TeamFields
from gigstack_mcp.sandbox import _fiscal, _invoicing

# (RFC, a strict RFC?, RFC-shaped?)
RFCS = [
    ("AIN980512QX9", True, True),  # persona moral
    ("GODE561231GR8", True, True),  # persona física
    ("XAXX010101000", True, True),  # público en general
    ("ÑA&D800512QX9", True, True),  # Ñ and & are letters of an RFC
    ("AIN981312QX9", False, True),  # month 13
    ("AIN980532QX9", False, True),  # day 32
    ("AIN980512QXB", False, True),  # the check character is a digit or A
    ("AIN98051QX9", False, False),  # 5 digits
    ("ain980512qx9", False, False),  # lower case: the tools upper-case nothing for you
    ("AIN980512QX9 ", False, False),
]


def _valid(adapter: TypeAdapter, value: str) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(("rfc", "strict", "shape"), RFCS)
def test_every_rfc_check_agrees(rfc, strict, shape):
    assert _valid(TypeAdapter(types.Rfc), rfc) is strict
    assert bool(cfdi._core.RFC_RE.match(rfc)) is strict  # the guard rails' RFC-FORMAT
    assert bool(_fiscal.RFC_RE.match(rfc)) is strict  # the sandbox, standing in for gigstack
    assert _valid(TypeAdapter(types.RfcShape), rfc) is shape


def test_the_tool_parameters_use_the_named_types():
    """A client's RFC is strict (gigstack validates it against the padrón); a team's is its shape only,
    as before this module existed."""
    with pytest.raises(ValidationError, match="tax_id"):
        ClientFields.model_validate({"tax_id": "AIN981312QX9"})
    assert TeamFields.model_validate({"tax_id": "AIN981312QX9"}).tax_id == "AIN981312QX9"
    with pytest.raises(ValidationError, match="tax_id"):
        TeamFields.model_validate({"tax_id": "AIN98051QX9"})


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("factura para AIN980512QX9, gracias", "factura para [rfc], gracias"),
        ("rfc gode561231gr8 en minúsculas", "rfc [rfc] en minúsculas"),  # free text: any case
        ("AIN981312QX9 con mes 13", "[rfc] con mes 13"),  # redaction hides the shape, valid or not
        ("folio XAIN980512QX9Z", "folio XAIN980512QX9Z"),  # inside a longer word: not an RFC
    ],
)
def test_the_audit_log_redacts_rfcs_in_free_text(text, redacted):
    assert sat.RFC_IN_TEXT.sub("[rfc]", text) == redacted
    assert audit.redact(text) == redacted


@pytest.mark.parametrize(
    ("key", "ok"),
    [
        ("abcd1234", True),
        ("bank:tx_2026.11-25", True),
        ("short", False),
        ("a" * 129, False),
        ("key with space", False),
    ],
)
def test_idempotency_keys_agree_between_the_tools_and_the_sandbox(key, ok):
    body = {"items": [{"id": "svc_1"}], "client": {"id": "c_1"}, "payment_form": "03", "idempotency_key": key}
    for params in (RegisterPaymentParams, CreateInvoiceParams):
        try:
            params.model_validate(body)
            refused: list = []
        except ValidationError as exc:
            refused = [e["loc"] for e in exc.errors() if e["loc"][:1] == ("idempotency_key",)]
        assert (not refused) is ok, params.__name__
    assert bool(sat.IDEMPOTENCY_KEY_RE.match(key)) is ok  # what the sandbox checks the header with


@pytest.mark.parametrize(
    ("zip_code", "ok"), [("06700", True), ("6700", False), ("067000", False), ("O6700", False)]
)
def test_zip_codes_agree(zip_code, ok):
    assert _valid(TypeAdapter(types.Zip), zip_code) is ok
    assert bool(_fiscal.ZIP_RE.match(zip_code)) is ok
    assert bool(sat.ZIP_RE.match(zip_code)) is ok


def test_one_mexico_time_zone():
    """Policy windows, the sandbox's stamping year and the product's dates use the same zone object."""
    assert policy.MEXICO is clock.MEXICO
    assert _invoicing.MEXICO is clock.MEXICO
    assert audit.MEXICO is clock.MEXICO
