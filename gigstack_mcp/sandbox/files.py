"""Invoice files served by the sandbox itself: `/files/{team}/{uuid}.pdf|.xml?sig=…` (an HMAC of team
and UUID, so the URLs cannot be guessed). The PDF is a small hand-written PDF 1.4 (one or more pages of
Helvetica text); the XML is a CFDI 4.0 Comprobante with its TimbreFiscalDigital, built with ElementTree."""

from __future__ import annotations

import hmac
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..clock import MEXICO
from ._core import ApiError
from ._fiscal import EXTRANJERO
from ._invoicing import COLL, file_sig

NS = {
    "cfdi": "http://www.sat.gob.mx/cfd/4",
    "tfd": "http://www.sat.gob.mx/TimbreFiscalDigital",
    "pago20": "http://www.sat.gob.mx/Pagos20",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}
for _prefix, _uri in NS.items():
    ET.register_namespace(_prefix, _uri)
_SCHEMA_LOCATION = (
    "http://www.sat.gob.mx/cfd/4 http://www.sat.gob.mx/sitio_internet/cfd/4/cfdv40.xsd "
    "http://www.sat.gob.mx/TimbreFiscalDigital "
    "http://www.sat.gob.mx/sitio_internet/cfd/TimbreFiscalDigital/TimbreFiscalDigitalv11.xsd"
)
TAX_CODES = {"ISR": "001", "IVA": "002", "IEPS": "003"}
_MOTIVES = {
    "01": "errores con relacion",
    "02": "errores sin relacion",
    "03": "no se llevo a cabo",
    "04": "global",
}


def _q(prefix: str, tag: str) -> str:
    return f"{{{NS[prefix]}}}{tag}"


def _m(x: Any) -> str:
    return f"{float(x or 0):.2f}"


def _unit(x: Any) -> str:
    """ValorUnitario: up to 6 decimals, at least 2."""
    whole, _, frac = f"{float(x or 0):.6f}".partition(".")
    return f"{whole}.{frac.rstrip('0').ljust(2, '0')}"


def _date(ts: int | None) -> str:
    """The CFDI's Fecha: the issuer's local time (Mexico City), as the SAT's t_FechaH has no zone."""
    return datetime.fromtimestamp(ts or 0, MEXICO).strftime("%Y-%m-%dT%H:%M:%S")


def _residence(client: dict[str, Any]) -> dict[str, Any]:
    """ResidenciaFiscal and NumRegIdTrib: only for a foreign receiver, XEXX010101000 (CFDI40151/40154)."""
    if client.get("tax_id") != EXTRANJERO:
        return {}
    country = client.get("country")
    return {
        "ResidenciaFiscal": country if country and country != "MEX" else None,
        "NumRegIdTrib": client.get("foreign_tax_id"),
    }


def _attrs(**kw: Any) -> dict[str, str]:
    return {k: str(v) for k, v in kw.items() if v is not None and v != ""}


# -- XML ----------------------------------------------------------------------------------------------------


def _tax_attrs(t: dict[str, Any]) -> dict[str, str]:
    exento = t["factor"] == "Exento"
    return _attrs(
        Base=_m(t.get("base")),
        Impuesto=TAX_CODES.get(t["type"], t["type"]),
        TipoFactor=t["factor"],
        TasaOCuota=None if exento else f"{float(t['rate']):.6f}",
        Importe=None if exento else _m(t.get("amount")),
    )


def _summary_taxes(parent: ET.Element, inv: dict[str, Any]) -> None:
    moved: dict[tuple, list[float]] = {}
    held: dict[str, float] = {}
    for item in inv.get("items") or []:
        for t in item.get("taxes") or []:
            if t["withholding"]:
                held[t["type"]] = held.get(t["type"], 0) + float(t.get("amount") or 0)
            else:
                key = (t["type"], t["factor"], t.get("rate"))
                acc = moved.setdefault(key, [0.0, 0.0])
                acc[0] += float(t.get("base") or 0)
                acc[1] += float(t.get("amount") or 0)
    if not moved and not held:
        return
    node = ET.SubElement(
        parent,
        _q("cfdi", "Impuestos"),
        _attrs(
            TotalImpuestosTrasladados=_m(inv.get("transferred_taxes")) if moved else None,
            TotalImpuestosRetenidos=_m(inv.get("withheld_taxes")) if held else None,
        ),
    )
    if held:
        ret = ET.SubElement(node, _q("cfdi", "Retenciones"))
        for kind, amount in held.items():
            ET.SubElement(ret, _q("cfdi", "Retencion"), {"Impuesto": TAX_CODES[kind], "Importe": _m(amount)})
    if moved:
        tra = ET.SubElement(node, _q("cfdi", "Traslados"))
        for (kind, factor, rate), (base, amount) in moved.items():
            t = {"type": kind, "factor": factor, "rate": rate, "base": base, "amount": amount}
            ET.SubElement(tra, _q("cfdi", "Traslado"), _tax_attrs(t))


def cfdi_xml(inv: dict[str, Any]) -> bytes:
    """The CFDI 4.0 document of an invoice (I, E or P)."""
    kind = inv.get("invoice_type", "I")
    issuer, client = inv.get("issuer") or {}, inv.get("client") or {}
    is_payment = kind == "P"
    root = ET.Element(
        _q("cfdi", "Comprobante"),
        _attrs(
            Version="4.0",
            Serie=inv.get("series"),
            Folio=inv.get("folio_number"),
            Fecha=_date(inv.get("created_at")),
            Sello=(inv.get("stamp") or {}).get("sello"),
            FormaPago=None if is_payment else inv.get("payment_form"),
            NoCertificado=(inv.get("stamp") or {}).get("cert_number"),
            SubTotal="0" if is_payment else _m(inv.get("subtotal")),
            Descuento=_m(inv["discount"]) if inv.get("discount") else None,
            Moneda=inv.get("currency", "MXN"),
            TipoCambio=None
            if inv.get("currency") in {"MXN", "XXX"}
            else f"{float(inv.get('exchange_rate') or 1):.6f}",
            Total="0" if is_payment else _m(inv.get("total")),
            TipoDeComprobante=kind,
            Exportacion=inv.get("exports") or "01",
            MetodoPago=None if is_payment else inv.get("payment_method"),
            LugarExpedicion=issuer.get("zip"),
        ),
    )
    root.set(_q("xsi", "schemaLocation"), _SCHEMA_LOCATION)
    glob = inv.get("global")
    if glob:
        ET.SubElement(
            root,
            _q("cfdi", "InformacionGlobal"),
            _attrs(Periodicidad=glob.get("periodicity"), Meses=glob.get("months"), Año=glob.get("year")),
        )
    for rel in inv.get("related_documents") or []:
        node = ET.SubElement(
            root, _q("cfdi", "CfdiRelacionados"), _attrs(TipoRelacion=rel.get("relationship"))
        )
        for uuid in rel.get("documents") or []:
            ET.SubElement(node, _q("cfdi", "CfdiRelacionado"), {"UUID": uuid})
    ET.SubElement(
        root,
        _q("cfdi", "Emisor"),
        _attrs(
            Rfc=issuer.get("tax_id"), Nombre=issuer.get("legal_name"), RegimenFiscal=issuer.get("tax_system")
        ),
    )
    ET.SubElement(
        root,
        _q("cfdi", "Receptor"),
        _attrs(
            Rfc=client.get("tax_id"),
            Nombre=client.get("legal_name") or client.get("name"),
            DomicilioFiscalReceptor=client.get("zip"),
            **_residence(client),
            RegimenFiscalReceptor=client.get("tax_system"),
            UsoCFDI=inv.get("use"),
        ),
    )
    concepts = ET.SubElement(root, _q("cfdi", "Conceptos"))
    for item in inv.get("items") or []:
        c = ET.SubElement(
            concepts,
            _q("cfdi", "Concepto"),
            _attrs(
                ClaveProdServ=item.get("product_key") or "01010101",
                NoIdentificacion=item.get("sku"),
                Cantidad=f"{float(item.get('quantity') or 1):g}",
                ClaveUnidad=item.get("unit_key") or "E48",
                Unidad=item.get("unit_name"),
                Descripcion=item.get("description"),
                ValorUnitario="0" if is_payment else _unit(item.get("unit_price")),
                Importe="0" if is_payment else _m(item.get("amount")),
                Descuento=_m(item["discount"]) if item.get("discount") else None,
                ObjetoImp=item.get("taxability") or "02",
            ),
        )
        taxes = item.get("taxes") or []
        if taxes:
            node = ET.SubElement(c, _q("cfdi", "Impuestos"))
            moved = [t for t in taxes if not t["withholding"]]
            held = [t for t in taxes if t["withholding"]]
            if moved:
                tra = ET.SubElement(node, _q("cfdi", "Traslados"))
                for t in moved:
                    ET.SubElement(tra, _q("cfdi", "Traslado"), _tax_attrs(t))
            if held:
                ret = ET.SubElement(node, _q("cfdi", "Retenciones"))
                for t in held:
                    ET.SubElement(ret, _q("cfdi", "Retencion"), _tax_attrs(t))
        third = item.get("third_party")
        if third:  # Anexo 20: after the concepto's Impuestos
            ET.SubElement(
                c,
                _q("cfdi", "ACuentaTerceros"),
                _attrs(
                    RfcACuentaTerceros=third.get("tax_id"),
                    NombreACuentaTerceros=third.get("legal_name"),
                    RegimenFiscalACuentaTerceros=third.get("tax_system"),
                    DomicilioFiscalACuentaTerceros=third.get("zip"),
                ),
            )
    if not is_payment:
        _summary_taxes(root, inv)
    comp = ET.SubElement(root, _q("cfdi", "Complemento"))
    if is_payment:
        p = inv.get("payment") or {}
        pagos = ET.SubElement(comp, _q("pago20", "Pagos"), {"Version": "2.0"})
        ET.SubElement(pagos, _q("pago20", "Totales"), {"MontoTotalPagos": _m(p.get("amount"))})
        pago = ET.SubElement(
            pagos,
            _q("pago20", "Pago"),
            _attrs(
                FechaPago=_date(p.get("date")),
                FormaDePagoP=p.get("payment_form"),
                MonedaP=p.get("currency", "MXN"),
                TipoCambioP="1",
                Monto=_m(p.get("amount")),
            ),
        )
        ET.SubElement(
            pago,
            _q("pago20", "DoctoRelacionado"),
            _attrs(
                IdDocumento=p.get("invoice_uuid"),
                MonedaDR=p.get("currency", "MXN"),
                EquivalenciaDR="1",
                NumParcialidad=p.get("installment"),
                ImpSaldoAnt=_m(p.get("previous_balance")),
                ImpPagado=_m(p.get("amount")),
                ImpSaldoInsoluto=_m(p.get("remaining_balance")),
                ObjetoImpDR="01",
            ),
        )
    stamp = inv.get("stamp") or {}
    ET.SubElement(
        comp,
        _q("tfd", "TimbreFiscalDigital"),
        _attrs(
            Version="1.1",
            UUID=inv["uuid"],
            FechaTimbrado=_date(stamp.get("stamp_at")),
            RfcProvCertif="SPR190613I52",
            SelloCFD=stamp.get("sello"),
            NoCertificadoSAT=stamp.get("sat_cert_number"),
            SelloSAT=stamp.get("sello"),
        ),
    )
    addenda = _addenda(inv.get("addenda"))
    if addenda is not None:
        root.append(addenda)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


def _addenda(raw: Any) -> ET.Element | None:
    """cfdi:Addenda (after the Complemento) holding the invoice's `addenda` XML, when it is well-formed
    XML without a DOCTYPE (so no entity is declared: nothing to expand or fetch; expat never fetches
    external ones). Anything else stays only stored, as the sandbox's PAC would not carry it either."""
    if not isinstance(raw, str) or not raw.strip() or "<!DOCTYPE" in raw.upper():
        return None
    try:
        content = ET.fromstring(f"<addenda>{raw}</addenda>")
    except ET.ParseError:
        return None
    node = ET.Element(_q("cfdi", "Addenda"))
    node.text = content.text
    node.extend(list(content))
    return node


# -- PDF ----------------------------------------------------------------------------------------------------


def _lines(inv: dict[str, Any]) -> list[str]:
    issuer, client = inv.get("issuer") or {}, inv.get("client") or {}
    names = {"I": "Factura (Ingreso)", "E": "Nota de credito (Egreso)", "P": "Complemento de pago"}
    cur = inv.get("currency", "MXN")
    out = [
        f"{names.get(inv.get('invoice_type', 'I'), 'CFDI')} {inv.get('series', '')}-{inv.get('folio_number', '')}",
        f"Folio fiscal (UUID): {inv['uuid']}",
        f"Fecha: {_date(inv.get('created_at'))}   Estado: {inv.get('status', '')}",
        "",
        f"Emisor: {issuer.get('legal_name', '')}  RFC {issuer.get('tax_id', '')}  Regimen {issuer.get('tax_system', '')}",
        f"Receptor: {client.get('legal_name') or client.get('name') or ''}  RFC {client.get('tax_id', '')}",
        f"  Regimen {client.get('tax_system', '')}  CP {client.get('zip', '')}  Uso CFDI {inv.get('use', '')}",
        f"Metodo de pago: {inv.get('payment_method') or '-'}  Forma de pago: {inv.get('payment_form') or '-'}  Moneda: {cur}",
        "",
        "Conceptos:",
    ]
    for item in inv.get("items") or []:
        out.append(
            f"  {float(item.get('quantity') or 1):g} x {item.get('description', '')} "
            f"[{item.get('product_key', '')}/{item.get('unit_key', '')}] @ {float(item.get('unit_price') or 0):,.2f}"
            f" = {float(item.get('amount') or 0):,.2f}"
        )
    out += [
        "",
        f"Subtotal: {float(inv.get('subtotal') or 0):,.2f}",
        f"Descuento: {float(inv.get('discount') or 0):,.2f}",
        f"Impuestos trasladados: {float(inv.get('transferred_taxes') or 0):,.2f}",
        f"Impuestos retenidos: {float(inv.get('withheld_taxes') or 0):,.2f}",
        f"Total: {float(inv.get('total') or 0):,.2f} {cur}",
    ]
    if inv.get("payment"):
        p = inv["payment"]
        out.append(
            f"Pago: {float(p.get('amount') or 0):,.2f} a {p.get('invoice_uuid')} "
            f"(saldo anterior {float(p.get('previous_balance') or 0):,.2f}, "
            f"insoluto {float(p.get('remaining_balance') or 0):,.2f})"
        )
    if inv.get("invoice_pdf_notes"):
        out += ["", f"Notas: {inv['invoice_pdf_notes']}"]
    if inv.get("status") == "cancelled":
        motive = inv.get("motive") or ""
        out.append(
            f"CANCELADA: motivo {motive} ({_MOTIVES.get(motive, '')}), {inv.get('cancellation_status')}"
        )
    out += ["", "Este documento es una representacion impresa de un CFDI (sandbox, sin validez fiscal)."]
    return out


def _pdf_text(s: str) -> bytes:
    raw = s.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def render_pdf(lines: list[str], per_page: int = 50) -> bytes:
    """A minimal valid PDF 1.4: Helvetica (WinAnsi) text, one page per `per_page` lines, exact xref."""
    chunks = [lines[i : i + per_page] for i in range(0, len(lines), per_page)] or [[]]
    n_pages = len(chunks)
    # objects: 1 catalog, 2 pages, 3 font, then (page, content) pairs
    page_ids = [4 + 2 * i for i in range(n_pages)]
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % p for p in page_ids) + b"] /Count %d >>" % n_pages,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    for i, chunk in enumerate(chunks):
        stream = (
            b"BT /F1 10 Tf 14 TL 40 800 Td\n"
            + b"".join(b"(" + _pdf_text(t) + b") Tj T*\n" for t in chunk)
            + b"ET"
        )
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (page_ids[i] + 1)
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def invoice_pdf(inv: dict[str, Any]) -> bytes:
    return render_pdf(_lines(inv))


# -- routes -------------------------------------------------------------------------------------------------


def file_routes(state: Any) -> list[Route]:
    async def serve(request: Request) -> Response:
        team, name = request.path_params["team"], request.path_params["name"]
        uuid, _, ext = name.rpartition(".")
        try:
            if ext not in {"pdf", "xml"} or not uuid:
                raise ApiError(404, "File not found", f"No file {name}", "file_not_found")
            sig = request.query_params.get("sig", "")
            if not hmac.compare_digest(sig, file_sig(state.files_secret, team, uuid.upper())):
                raise ApiError(403, "Forbidden", "Missing or invalid file signature", "forbidden")
            inv = state.store.get(team, COLL, uuid.upper())
            if inv is None:
                raise ApiError(404, "File not found", f"No invoice {uuid}", "file_not_found")
        except ApiError as exc:
            return exc.response()
        if ext == "pdf":
            body, media = invoice_pdf(inv), "application/pdf"
        else:
            body, media = cfdi_xml(inv), "application/xml"
        filename = f"{inv.get('series', '')}-{inv.get('folio_number', '')}_{inv['uuid']}.{ext}"
        return Response(
            body, media_type=media, headers={"content-disposition": f'inline; filename="{filename}"'}
        )

    return [Route("/files/{team}/{name}", serve, methods=["GET"])]
