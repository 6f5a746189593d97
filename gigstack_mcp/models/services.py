"""Services (catalog items) and the tax lines invoices share: parameters and results."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field

from ._base import Metadata, Out, Page, Strict, ToolParams, text
from ._lists import ListFilters
from ._text import quoted, shown

ProductKey = Annotated[str, Field(pattern=r"^[0-9]{8}$", description="c_ClaveProdServ, e.g. 80101500")]


def _clave_unidad(value: str) -> str:
    """A SAT c_ClaveUnidad code as the catalog spells it (a few are mixed case, e.g. Ohm, Dx)."""
    from ..catalogs import codes  # loaded on first use

    if value not in codes("clave_unidad"):
        raise ValueError(
            f"unit_key {value!r} is not in SAT c_ClaveUnidad (spelled as there): e.g. E48 servicio, H87 "
            "pieza, ACT actividad (lookup_catalog clave-unidad)"
        )
    return value


UnitKey = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9]{2,3}$"), AfterValidator(_clave_unidad), text("c_ClaveUnidad, e.g. E48")
]
Taxability = Annotated[str, Field(pattern=r"^0[1-8]$"), text("c_ObjetoImp")]
Price = Annotated[float, Field(gt=0)]
ServiceId = Annotated[str, Field(min_length=1)]


class Tax(Strict):
    type: Literal["IVA", "ISR", "IEPS"]
    rate: float | None = Field(None, ge=0, description="e.g. 0.16")
    factor: Literal["Tasa", "Cuota", "Exento"] | None = None
    withholding: bool | None = None
    inclusive: bool | None = None


class TaxLine(Out):
    type: str | None = None
    rate: float | None = None
    factor: str | None = None
    withholding: bool | None = None
    inclusive: bool | None = None
    amount: float | None = None


def taxes_text(taxes: list[TaxLine] | None) -> str:
    parts = []
    for t in taxes or []:
        rate = "exento" if t.factor == "Exento" else f"{(t.rate or 0) * 100:g}%"
        parts.append(
            f"{shown(t.type)} {'ret ' if t.withholding else ''}{rate}{' incl' if t.inclusive else ''}"
        )
    return ", ".join(parts) or "no taxes"


class Service(Out):
    id: str | None = None
    description: str | None = None
    unit_price: float | None = None
    product_key: str | None = None
    unit_key: str | None = None
    sku: str | None = None
    quantity: float | None = None
    taxes: list[TaxLine] | None = None
    metadata: dict | None = None

    def summary(self) -> str:
        return (
            f"{shown(self.id)} | {quoted(self.description)} | {self.unit_price} | "
            f"{shown(self.product_key)}/{shown(self.unit_key)} | {taxes_text(self.taxes)}"
        )


class ServicePage(Page[Service]):
    pass


class ServiceFields(ToolParams):
    description: str | None = Field(None, min_length=1)
    unit_price: Price | None = None
    product_key: ProductKey | None = None
    unit_key: UnitKey | None = None
    unit_name: str | None = None
    sku: str | None = None
    quantity: float | None = Field(None, gt=0)  # the items' default quantity
    taxability: Taxability | None = None
    taxes: list[Tax] | None = None
    metadata: Metadata | None = None


class CreateServiceParams(ServiceFields):
    description: str = Field(min_length=1)
    unit_price: Price


class ServiceIdParams(ToolParams):
    path_fields: ClassVar[tuple[str, ...]] = ("id",)
    id: ServiceId


class UpdateServiceParams(ServiceFields):
    path_fields: ClassVar[tuple[str, ...]] = ("id",)
    id: ServiceId


class ListServicesParams(ListFilters):  # gigstack documents no metadata filter for services (§2.2)
    pass


class ServiceDeleted(Out):
    id: str | None = None
    deleted: bool = True
