"""D. Forma × método de pago: catalogs, PPD ⇒ 99, PUE forms and month, payment forms."""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Iterator

from ._core import _F, AMOUNTS, INVOICE, Severity, _Doc, _join, _rows, rule

# D. Forma × método de pago --------------------------------------------------------------------------------


@rule(
    "FORMA-CATALOG",
    Severity.BLOCK,
    AMOUNTS,
    "payment_form ∈ c_FormaPago 4.0 (22 codes); legacy 07, 09, 10, 11, 16, 98 refused. CFDI40104.",
)
def _forma_catalog(doc: _Doc) -> Iterator[_F]:
    """The payment form is not in c_FormaPago."""
    form = doc.form
    if form is not None and form not in _rows("forma_pago"):
        yield _F(
            "payment_form",
            doc.body.get("payment_form"),
            _join(_rows("forma_pago")),
            f"La forma de pago {form} no está en c_FormaPago 4.0.",
            f"Payment form {form} is not in c_FormaPago 4.0.",
        )


@rule("METODO-CATALOG", Severity.BLOCK, INVOICE, "payment_method ∈ PUE, PPD. CFDI40124.")
def _metodo_catalog(doc: _Doc) -> Iterator[_F]:
    """The payment method is not PUE or PPD."""
    if doc.method not in _rows("metodo_pago"):
        yield _F(
            "payment_method",
            doc.body.get("payment_method"),
            "PUE (paid in full), PPD (deferred / installments)",
            f"El método de pago {doc.method} no existe: PUE o PPD.",
            f"Payment method {doc.method} does not exist: PUE or PPD.",
        )


@rule("PPD-FORMA-99", Severity.BLOCK, INVOICE, "PPD ⇒ payment_form 99 Por definir. CFDI40105.")
def _ppd_forma(doc: _Doc) -> Iterator[_F]:
    """With PPD (paid later) the payment form must be 99 "Por definir"."""
    if doc.method == "PPD" and doc.form is not None and doc.form != "99":
        egress = doc.scope == "E"
        yield _F(
            "payment_form",
            doc.form,
            "99" + (" with PPD; a credit note is PUE with this form" if egress else ""),
            "Con método PPD la forma de pago es 99 (Por definir); la forma real va en cada complemento de pago."
            + (" Una nota de crédito es PUE: use payment_method PUE con esta forma." if egress else ""),
            "With PPD the payment form is 99 (Por definir); the real form goes on each payment complement."
            + (" A credit note is PUE: use payment_method PUE with this form." if egress else ""),
        )


@rule(
    "PUE-FORMA-NOT-99",
    Severity.POLICY,
    {"I", "payment", "receipt"},
    "PUE income (and paid payments/receipts) ⇒ the real payment form, not 99 (Guía; RMF 2.7.1.39). "
    "Credit notes: EGRESO-FORMA.",
)
def _pue_forma(doc: _Doc) -> Iterator[_F]:
    """A PUE invoice (paid at issue) states how it was paid: 99 "Por definir" is only for PPD."""
    if doc.form != "99":
        return
    if doc.scope == "payment" and not (doc.register and doc.automation != "ppd_invoice_and_complement"):
        return
    if doc.scope == "I" and doc.method != "PUE":
        return
    yield _F(
        "payment_form",
        "99",
        "the real form: 01 efectivo, 03 transferencia, 04 tarjeta de crédito, 28 débito…",
        "Pagado en una exhibición (PUE): indique la forma real de pago, no 99; si aún no está pagado use PPD.",
        "Paid in full (PUE): give the real payment form, not 99; if it is not paid yet use PPD.",
    )


@rule(
    "PUE-MONTH",
    Severity.WARN,
    {"I"},
    "A PUE income invoice must be fully paid by the last day of the issue month (RMF 2.7.1.39), else PPD.",
)
def _pue_month(doc: _Doc) -> Iterator[_F]:
    """PUE means paid in full by the end of this month; otherwise use PPD with payment form 99."""
    if doc.method != "PUE" or doc.glob is not None:
        return
    last = doc.today.replace(day=monthrange(doc.today.year, doc.today.month)[1])
    yield _F(
        "payment_method",
        "PUE",
        "PUE if paid by " + last.isoformat() + ", else PPD",
        f"PUE solo si queda totalmente pagada a más tardar el {last.isoformat()}; si no, use PPD con forma 99.",
        f"PUE only if fully paid by {last.isoformat()}; otherwise use PPD with payment form 99.",
        warn=True,
    )


@rule(
    "PAGO-FORMA",
    Severity.POLICY,
    {"payment"},
    "A registered payment that feeds a payment complement (ppd_invoice_and_complement) states its real form, not 99.",
)
def _pago_forma(doc: _Doc) -> Iterator[_F]:
    """A received payment (FormaDePagoP) cannot be 99 "Por definir"."""
    if doc.register and doc.form == "99" and doc.automation == "ppd_invoice_and_complement":
        yield _F(
            "payment_form",
            "99",
            "the real form: 01 efectivo, 03 transferencia, 04 tarjeta de crédito, 28 débito…",
            "La forma de pago de un pago recibido no puede ser 99.",
            "A received payment's form cannot be 99.",
        )
