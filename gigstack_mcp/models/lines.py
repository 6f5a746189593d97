"""What invoices, payments and receipts are made of: their lines (items with taxes) and the client they
name inline. Fields and names are gigstack's (gigstack-api.md §3.1-3.3)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import EmailStr, Field, WithJsonSchema

from ._base import Metadata, Strict
from .clients import AddressFields, ForeignTaxId, RegimenFiscal, Rfc, UsoCFDI, Zip
from .services import Price, ProductKey, Taxability, UnitKey
from .services import Tax as Tax

# -- items ------------------------------------------------------------------------------------------


class Item(Strict):  # a line of a payment or receipt; an invoice's line adds third_party and search
    id: str | None = None  # a service's id: its fields are the defaults (the docstrings say it)
    description: str | None = None
    quantity: float | None = Field(None, gt=0)
    unit_price: Price | None = None
    product_key: ProductKey | None = None
    unit_key: UnitKey | None = None
    unit_name: str | None = Field(None, max_length=20)  # Unidad, e.g. Servicio (SAT: up to 20)
    taxability: Taxability | None = None
    taxes: list[Tax] | None = None
    discount: float | None = Field(None, ge=0)
    sku: str | None = Field(None, max_length=100)  # NoIdentificacion: e.g. the ticket on a global invoice


class ThirdParty(Strict):  # ACuentaTerceros: the line is billed on behalf of this taxpayer
    tax_id: Rfc
    legal_name: str = Field(min_length=1, max_length=300)
    tax_system: RegimenFiscal
    zip: Zip


class ItemSearch(Strict):  # the service with this SKU (created from the line when auto_create)
    on_key: Annotated[Literal["sku"], WithJsonSchema({"enum": ["sku"], "type": "string"})]  # no `const`
    on_value: str = Field(min_length=1)
    auto_create: bool | None = None


class InvoiceLine(Item):
    # third_party and search are documented only on gigstack's create-income-invoice page
    # (gigstack-api.md §3.2, "D:create-income-invoice"), so only the invoice tools take them.
    third_party: ThirdParty | None = None
    search: ItemSearch | None = None


# -- the client, inline ------------------------------------------------------------------------------


class ClientSearch(Strict):
    # No `update` (gigstack has one): it would silently overwrite the stored client's fiscal data from
    # an invoice's arguments; update_client does that, in the open.
    on_key: Literal["tax_id", "email"]
    on_value: str
    auto_create: bool | None = None  # create the client when none matches


class InvoiceClient(Strict):  # {id}, or the receiver's data (gigstack's Client fields, §3.1)
    id: str | None = None
    name: str | None = None
    legal_name: str | None = None
    tax_id: Rfc | None = None
    foreign_tax_id: ForeignTaxId | None = None
    tax_system: RegimenFiscal | None = None
    use: UsoCFDI | None = None
    email: EmailStr | None = None
    bcc: list[EmailStr] | None = None
    phone: str | None = None
    company: str | None = None
    address: AddressFields | None = None
    metadata: Metadata | None = None
    search: ClientSearch | None = None
