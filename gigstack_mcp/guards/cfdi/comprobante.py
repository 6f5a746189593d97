"""E. Per comprobante: egreso method/form/uso/relations, CFDI relacionados, exportación,
moneda and tipo de cambio, amounts."""

from __future__ import annotations

from collections.abc import Iterator

from ...sat import CURRENCY_RE
from ._core import (
    _F,
    AMOUNTS,
    GENERIC_EGRESS_USOS,
    INVOICE,
    UUID_RE,
    Severity,
    _code,
    _Doc,
    _join,
    _list,
    _map,
    _num,
    _rows,
    rule,
)

# Anexo 20 guía de llenado, Apéndice 5 (Emisión de CFDI de Egresos): the form the credit is given with.
EGRESS_FORMS = (
    "15 Condonación (the credited invoice is not paid yet: the debt is forgiven), 17 Compensación (offset "
    "against what the client owes), or how the money goes back: 03 transferencia, 01 efectivo, 02 cheque…"
)


# E. Per comprobante type --------------------------------------------------------------------------------


@rule(
    "EGRESO-METODO",
    Severity.POLICY,
    {"E"},
    "A credit note is PUE, whatever the credited invoice's method (Anexo 20 guía de llenado, Apéndice 5).",
)
def _egreso_metodo(doc: _Doc) -> Iterator[_F]:
    """A credit note (egreso) is PUE: it is settled when issued; PPD and its complements are for income."""
    if doc.method == "PPD":
        yield _F(
            "payment_method",
            "PPD",
            "PUE",
            "Una nota de crédito (egreso) se emite con método PUE, aunque la factura que acredita sea PPD; "
            f"la forma es la del crédito: {EGRESS_FORMS}.",
            "A credit note (egress) is PUE even when the invoice it credits is PPD; its form is how the "
            f"credit is given: {EGRESS_FORMS}.",
        )


@rule(
    "EGRESO-FORMA",
    Severity.POLICY,
    {"E"},
    "A credit note's payment_form is how the credit is given, never 99: 15 Condonación while the invoice is "
    "unpaid, 17 Compensación, or the refund's form (03, 01…); the original's form when it was a real one "
    "(Anexo 20 guía de llenado, Apéndice 5). Warns when missing.",
)
def _egreso_forma(doc: _Doc) -> Iterator[_F]:
    """A credit note's payment form is how the credit is given (15 Condonación if the invoice is unpaid, 17 Compensación, 03 for a transfer back…), never 99."""
    if doc.form == "99":
        yield _F(
            "payment_form",
            "99",
            EGRESS_FORMS,
            "Una nota de crédito no lleva forma 99 (ni aunque la factura acreditada sea PPD con 99): "
            f"indique cómo se otorga el crédito: {EGRESS_FORMS}.",
            "A credit note never takes form 99 (not even when the credited invoice is PPD with 99): give "
            f"how the credit is given: {EGRESS_FORMS}.",
        )
    elif doc.form is None:
        yield _F(
            "payment_form",
            None,
            EGRESS_FORMS,
            "Indique la forma de pago de la nota de crédito (cómo se otorga el crédito).",
            "Give the credit note's payment form (how the credit is given).",
            warn=True,
        )


@rule(
    "EGRESO-USO", Severity.WARN, {"E"}, "Credit notes use uso G02 Devoluciones, descuentos o bonificaciones."
)
def _egreso_uso(doc: _Doc) -> Iterator[_F]:
    """A credit note normally takes uso G02."""
    field, use = doc.use
    if use != "G02" and (not doc.generic or use in GENERIC_EGRESS_USOS):  # else GENERIC-USO blocks it
        yield _F(
            field,
            use,
            "G02",
            "Las notas de crédito usan G02 (Devoluciones, descuentos o bonificaciones).",
            "Credit notes use G02 (Devoluciones, descuentos o bonificaciones).",
            warn=True,
        )


@rule(
    "EGRESO-RELACION",
    Severity.WARN,
    {"E"},
    "A credit note relates to what it credits: relationship 01 (or 03 devolución, 07 anticipo).",
)
def _egreso_relacion(doc: _Doc) -> Iterator[_F]:
    """A credit note should name the invoice(s) it credits in related_documents (01, 03 or 07)."""
    rels = {_code(_map(r).get("relationship")) for r in _list(doc.body.get("related_documents"))}
    if not rels & {"01", "03", "07"}:
        yield _F(
            "related_documents",
            doc.body.get("related_documents"),
            '[{"relationship": "01", "documents": [<UUID>]}] (or 03, 07)',
            "La nota de crédito debe relacionar el CFDI que acredita (01, o 03/07).",
            "The credit note should relate the CFDI it credits (01, or 03/07).",
            warn=True,
        )


@rule(
    "RELACION-CATALOG",
    Severity.BLOCK,
    INVOICE,
    "related_documents[].relationship ∈ 01-07 (08/09 ended) and allowed for this invoice type; documents are CFDI UUIDs. CFDI40137.",
)
def _relacion_catalog(doc: _Doc) -> Iterator[_F]:
    """A related-document entry has an unknown relationship, one not allowed for this invoice type, or a bad UUID."""
    related = doc.body.get("related_documents")
    if related is None:
        return
    if not isinstance(related, list):
        yield _F("related_documents", related, "a list", "Debe ser una lista.", "Must be a list.")
        return
    rows = _rows("tipo_relacion")
    for i, entry in enumerate(related):
        entry = _map(entry)
        rel = _code(entry.get("relationship"))
        row = rows.get(rel or "")
        path = f"related_documents[{i}]"
        if row is None:
            yield _F(
                f"{path}.relationship",
                entry.get("relationship"),
                _join(f"{c} {r['description']}" for c, r in rows.items()),
                f"El tipo de relación {rel} no existe en CFDI 4.0.",
                f"Relationship {rel} does not exist in CFDI 4.0.",
            )
        elif row["comprobante_nuevo"] and doc.scope not in row["comprobante_nuevo"]:
            allowed = [
                c
                for c, r in rows.items()
                if not r["comprobante_nuevo"] or doc.scope in r["comprobante_nuevo"]
            ]
            yield _F(
                f"{path}.relationship",
                rel,
                _join(allowed),
                f"La relación {rel} no aplica a un CFDI tipo {doc.scope}.",
                f"Relationship {rel} does not apply to a type {doc.scope} CFDI.",
            )
        documents = entry.get("documents")
        if not isinstance(documents, list) or not documents:
            yield _F(
                f"{path}.documents",
                documents,
                "one or more CFDI UUIDs",
                "Indique al menos un UUID relacionado.",
                "Give at least one related UUID.",
            )
            continue
        for j, uuid in enumerate(documents):
            if not (isinstance(uuid, str) and UUID_RE.match(uuid)):
                yield _F(
                    f"{path}.documents[{j}]",
                    uuid,
                    "UUID 8-4-4-4-12 hex",
                    "El documento relacionado no es un UUID de CFDI.",
                    "The related document is not a CFDI UUID.",
                )


@rule(
    "EXPORTACION",
    Severity.BLOCK,
    INVOICE,
    "exports ∈ 01-04; 02 needs the Comercio Exterior complement (CFDI40122); 01/03 must not carry it (CFDI40222).",
)
def _exportacion(doc: _Doc) -> Iterator[_F]:
    """exports is not in c_Exportacion, or does not match the Comercio Exterior complement."""
    raw = doc.body.get("exports")
    exports = _code(raw)
    if exports is None:
        return
    if exports not in _rows("exportacion"):
        yield _F(
            "exports",
            raw,
            _join(f"{c} {r['description']}" for c, r in _rows("exportacion").items()),
            f"La clave de exportación {exports} no existe.",
            f"Export code {exports} does not exist.",
        )
        return
    complements = _list(doc.body.get("complements"))
    cce = any("comercioexterior" in str(_map(c).get("data", "")).lower() for c in complements)
    if exports == "02" and not cce:
        yield _F(
            "exports",
            exports,
            "01 (domestic), or 02 with a Comercio Exterior complement",
            "Exportación 02 requiere el complemento de Comercio Exterior.",
            "exports 02 requires the Comercio Exterior complement.",
        )
    elif exports in ("01", "03") and cce:
        yield _F(
            "exports",
            exports,
            "02 or 04 with Comercio Exterior",
            f"Con exportación {exports} no va el complemento de Comercio Exterior.",
            f"With exports {exports} there is no Comercio Exterior complement.",
        )


@rule(
    "MONEDA-TC",
    Severity.BLOCK,
    AMOUNTS,
    "currency is an ISO 4217 code; MXN ⇒ no exchange_rate (or 1); XXX ⇒ none; any other ⇒ exchange_rate > 0. CFDI40114-40116.",
)
def _moneda_tc(doc: _Doc) -> Iterator[_F]:
    """The currency/exchange rate pair is inconsistent (foreign currency needs exchange_rate > 0; MXN takes none)."""
    raw_currency = doc.body.get("currency")
    currency = (_code(raw_currency) or "MXN").upper()
    raw_rate = doc.body.get("exchange_rate")
    rate = _num(raw_rate)
    if not CURRENCY_RE.match(currency):
        yield _F(
            "currency",
            raw_currency,
            "ISO 4217 code: MXN, USD, EUR…",
            f"{raw_currency} no es una clave de moneda ISO 4217.",
            f"{raw_currency} is not an ISO 4217 currency code.",
        )
    elif currency == "MXN" and raw_rate is not None and rate != 1:
        yield _F(
            "exchange_rate",
            raw_rate,
            "(none) or 1",
            "En MXN no se indica tipo de cambio (o es 1).",
            "With MXN there is no exchange rate (or it is 1).",
        )
    elif currency == "XXX" and raw_rate is not None:
        yield _F(
            "exchange_rate",
            raw_rate,
            "(none)",
            "Con moneda XXX no va tipo de cambio.",
            "With currency XXX there is no exchange rate.",
        )
    elif currency not in ("MXN", "XXX") and (rate is None or rate <= 0):
        yield _F(
            "exchange_rate",
            raw_rate,
            f"MXN per 1 {currency}, > 0",
            f"Con moneda {currency} el tipo de cambio es obligatorio y mayor que 0.",
            f"With currency {currency} exchange_rate is required and must be > 0.",
        )


@rule(
    "NO-NEGATIVES",
    Severity.BLOCK,
    AMOUNTS,
    "quantity > 0, unit_price > 0 (CFDI40166), 0 ≤ discount ≤ quantity × unit_price.",
)
def _no_negatives(doc: _Doc) -> Iterator[_F]:
    """Amounts must be positive: quantity and unit_price > 0, discount between 0 and the item amount."""
    for path, item in doc.items():
        quantity = 1.0 if item.get("quantity") is None else _num(item.get("quantity"))
        if quantity is None or quantity <= 0:
            yield _F(
                f"{path}.quantity",
                item.get("quantity"),
                "> 0",
                "La cantidad debe ser mayor que 0.",
                "quantity must be greater than 0.",
            )
        has_price = item.get("unit_price") is not None  # absent: the referenced service's price
        price = _num(item.get("unit_price")) if has_price else None
        if has_price and (price is None or price <= 0):
            yield _F(
                f"{path}.unit_price",
                item.get("unit_price"),
                "> 0",
                "El valor unitario debe ser mayor que 0 (las notas de crédito también van en positivo).",
                "unit_price must be greater than 0 (credit notes are positive too).",
            )
        if item.get("discount") is not None:
            discount = _num(item.get("discount"))
            cap = quantity * price if quantity and price and quantity > 0 and price > 0 else None
            if discount is None or discount < 0 or (cap is not None and discount > cap + 1e-9):
                yield _F(
                    f"{path}.discount",
                    item.get("discount"),
                    f"0-{round(cap, 2)}" if cap is not None else ">= 0",
                    "El descuento no puede ser negativo ni mayor que el importe del concepto.",
                    "discount cannot be negative or larger than the item amount.",
                )


@rule(
    "TAX-BASE-POSITIVE",
    Severity.BLOCK,
    AMOUNTS,
    "An item with taxes keeps a tax base > 0 after its discount: amount − discount > 0 (CFDI40174 traslados, "
    "CFDI40181 retenciones).",
)
def _tax_base_positive(doc: _Doc) -> Iterator[_F]:
    """An item with taxes needs amount minus discount above 0 (its tax base): a 100% discount leaves none."""
    for path, item in doc.items():
        quantity = 1.0 if item.get("quantity") is None else _num(item.get("quantity"))
        price, discount = _num(item.get("unit_price")), _num(item.get("discount"))
        if not _list(item.get("taxes")) or None in (quantity, price, discount):
            continue  # no taxes, a service's price (unknown here), or no discount
        amount = round(quantity * price, 2)  # type: ignore[operator]
        if 0 < amount <= discount + 1e-9:  # type: ignore[operator]
            yield _F(
                f"{path}.discount",
                item.get("discount"),
                f"less than the item amount {amount:.2f}, or an item without taxes",
                "Con impuestos, la base (importe menos descuento) debe ser mayor que 0 (CFDI40174).",
                "With taxes, the base (amount minus discount) must be greater than 0 (CFDI40174).",
            )
