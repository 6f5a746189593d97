"""Clients (receptores): parameters and results."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, EmailStr, Field, model_validator

from ._base import Metadata, Out, Page, Strict, ToolParams, text
from ._lists import MetadataFilters
from ._text import quoted, shown
from .sat import Rfc, Zip

# Advertised as a word and an example, not as the long patterns they validate with (the patterns
# still check every value server-side; the guard rails explain a bad RFC, régimen or uso by rule ID).
RegimenFiscal = Annotated[str, Field(pattern=r"^6[0-2][0-9]$"), text("c_RegimenFiscal, e.g. 612")]
UsoCFDI = Annotated[
    str, Field(pattern=r"^(G0[1-3]|I0[1-8]|D(0[1-9]|10)|S01|CP01|CN01)$"), text("c_UsoCFDI, e.g. G03")
]
ClientId = Annotated[str, Field(min_length=1)]


def _pais(value: str) -> str:
    """A SAT c_Pais code (ISO 3166 alpha-3), e.g. USA: the CFDI's ResidenciaFiscal comes from it."""
    from ..catalogs import codes  # loaded on first use

    code = value.strip().upper()
    if code not in codes("pais"):
        raise ValueError(
            f"country {value!r} is not in SAT c_Pais: use the alpha-3 code, e.g. USA, CAN, ESP "
            "(lookup_catalog pais finds it by name)"
        )
    return code


# A foreign customer: address.country (c_Pais) + foreign_tax_id (NumRegIdTrib), with RFC XEXX010101000.
Country = Annotated[str, AfterValidator(_pais), text("c_Pais alpha-3, e.g. USA")]
ForeignTaxId = Annotated[str, Field(min_length=1, max_length=40), text()]  # NumRegIdTrib, e.g. a US EIN


class Address(Out):
    zip: Annotated[Zip | None, Field(description="Código postal del domicilio fiscal.")] = None
    country: str | None = None
    street: str | None = None
    exterior: str | None = None
    interior: str | None = None
    neighborhood: str | None = None
    municipality: str | None = None
    city: str | None = None
    state: str | None = None


class Client(Out):
    id: str | None = None
    name: str | None = None
    legal_name: str | None = None
    tax_id: str | None = None
    foreign_tax_id: str | None = None
    tax_system: str | None = None
    use: str | None = None
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    bcc: list[str] | None = None
    address: Address | None = None
    defaults: dict | None = None
    is_valid: bool | None = Field(None, description="gigstack's last fiscal validation of this client.")
    metadata: dict | None = None
    created_at: int | None = None

    def summary(self) -> str:
        zip_code = self.address.zip if self.address else None
        country = self.address.country if self.address else None
        abroad = f" | país {shown(country)}" if country and country != "MEX" else ""
        abroad += f" | NumRegIdTrib {shown(self.foreign_tax_id)}" if self.foreign_tax_id else ""
        return (
            f"{shown(self.id)} | {quoted(self.legal_name or self.name)} | RFC {shown(self.tax_id)} | "
            f"régimen {shown(self.tax_system)} | uso {shown(self.use)} | CP {shown(zip_code)} | "
            f"{shown(self.email)}{abroad}"
        )


class ClientPage(Page[Client]):
    pass


class AddressFields(Strict):  # only the keys given are sent (an update never sends an empty address)
    zip: Zip | None = None
    street: str | None = None
    exterior: str | None = None
    interior: str | None = None
    neighborhood: str | None = None
    municipality: str | None = None
    city: str | None = None
    state: str | None = None
    country: Country | None = None  # checked against c_Pais


class ClientFields(ToolParams):
    name: str | None = Field(None, max_length=300)
    legal_name: str | None = Field(None, max_length=300)  # as on the constancia (create_client says so)
    tax_id: Rfc | None = None  # a foreign customer: XEXX010101000 + foreign_tax_id + address.country
    foreign_tax_id: ForeignTaxId | None = None
    tax_system: RegimenFiscal | None = None
    use: UsoCFDI | None = None
    email: EmailStr | None = None
    phone: str | None = None
    company: str | None = None
    bcc: list[EmailStr] | None = None  # more recipients of its invoice emails
    address: AddressFields | None = None
    metadata: Metadata | None = None


class ClientDefaults(Strict):  # gigstack's automations for this client (create only: gigstack-api §3.1)
    keep_full_legal_name: bool | None = None
    issue_automatic_invoices: bool | None = None
    issue_invoiceable_receipts: bool | None = None


class ClientSearchSpec(Strict):
    """Reuse the client with this RFC or email instead of creating another."""

    on_key: Literal["email", "tax_id"]
    on_value: str
    update: bool | None = None


class CreateClientParams(ClientFields):
    defaults: ClientDefaults | None = None
    search: ClientSearchSpec | None = None


class ClientIdParams(ToolParams):
    path_fields: ClassVar[tuple[str, ...]] = ("id",)
    id: ClientId


class UpdateClientParams(ClientFields):
    path_fields: ClassVar[tuple[str, ...]] = ("id",)
    id: ClientId


class ListClientsParams(MetadataFilters):
    query_text: str | None = Field(None, alias="query")  # name, RFC or email (the docstring says it)

    @model_validator(mode="after")
    def _search_takes_no_filters(self) -> ListClientsParams:
        """gigstack's search (`/clients/search`) takes only q, limit and the page: a filter beside
        `query` would be ignored there, so it is refused rather than dropped."""
        given = [f for f in ("order_by", "sort", "date_from", "date_to", "metadata") if getattr(self, f)]
        if self.query_text and given:
            raise ValueError(f"query searches by name, RFC or email alone: drop {', '.join(given)} or query")
        return self


class PortalTokenParams(ToolParams):
    id: str | None = None
    email: EmailStr | None = None


class FiscalValidation(Out):
    id: str | None = None
    is_valid: bool | None = None
    issues: list[str] = Field(default_factory=list, description="What to fix before invoicing this client.")
    tax_id: str | None = None


class PortalToken(Out):
    url: str | None = None
    expires_at: int | None = None


class PendingReceiptsResult(Out):
    stamped: int = 0
    failed: int = 0
    remaining: int = 0
    results: list[dict] = Field(default_factory=list)


class Deleted(Out):
    id: str | None = None
    deleted: bool = True
