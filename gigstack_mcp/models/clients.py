"""Clients (receptores): parameters and results."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import EmailStr, Field

from ._base import ListParams, Out, Page, ToolParams

RFC_PATTERN = r"^[A-Z&Ñ]{3,4}[0-9]{2}(0[1-9]|1[012])(0[1-9]|[12][0-9]|3[01])[A-Z0-9]{2}[0-9A]$"
Rfc = Annotated[
    str,
    Field(
        pattern=RFC_PATTERN,
        description="RFC in capitals: 12 characters (persona moral) or 13 (física). XAXX010101000 = público en general.",
    ),
]
RegimenFiscal = Annotated[
    str,
    Field(pattern=r"^6[0-2][0-9]$", description="Régimen fiscal code (c_RegimenFiscal), e.g. 601, 612, 626."),
]
UsoCFDI = Annotated[
    str,
    Field(pattern=r"^(G0[1-3]|I0[1-8]|D(0[1-9]|10)|S01|CP01|CN01)$", description="Uso CFDI code, e.g. G03."),
]
ClientId = Annotated[str, Field(min_length=1, description="Client id, e.g. client_123.")]


class Address(Out):
    zip: Annotated[
        str | None, Field(pattern=r"^[0-9]{5}$", description="Código postal del domicilio fiscal.")
    ] = None
    country: str | None = None
    street: str | None = None
    exterior: str | None = None
    interior: str | None = None
    neighborhood: str | None = None
    municipality: str | None = None
    city: str | None = None
    state: str | None = None


class Client(Out):
    id: str
    name: str | None = None
    legal_name: str | None = None
    tax_id: str | None = None
    tax_system: str | None = None
    use: str | None = None
    email: str | None = None
    phone: str | None = None
    address: Address | None = None
    is_valid: bool | None = Field(None, description="gigstack's last fiscal validation of this client.")
    metadata: dict | None = None
    created_at: int | None = None

    def summary(self) -> str:
        zip_code = self.address.zip if self.address else None
        return (
            f"{self.id} | {self.legal_name or self.name} | RFC {self.tax_id} | régimen {self.tax_system} | "
            f"uso {self.use} | CP {zip_code} | {self.email or '-'}"
        )


class ClientPage(Page[Client]):
    pass


class ClientFields(ToolParams):
    name: str | None = Field(None, max_length=300, description="Display name.")
    legal_name: str | None = Field(
        None, max_length=300, description="Razón social exactly as on the Constancia de Situación Fiscal."
    )
    tax_id: Rfc | None = None
    tax_system: RegimenFiscal | None = None
    use: UsoCFDI | None = Field(None, description="Default uso CFDI for this client's invoices.")
    email: EmailStr | None = None
    phone: str | None = None
    address: Address | None = Field(None, description="Fiscal address; zip is required for CFDI 4.0.")
    metadata: dict[str, str] | None = Field(None, description="Your own key/values (e.g. CRM id).")


class ClientSearchSpec(Out):
    on_key: Literal["email", "tax_id"]
    on_value: str
    update: bool | None = Field(None, description="Update the found client with these fields.")


class CreateClientParams(ClientFields):
    search: ClientSearchSpec | None = Field(
        None, description="Upsert: reuse the client with this email/RFC if it exists."
    )


class ClientIdParams(ToolParams):
    path_fields: ClassVar[tuple[str, ...]] = ("id",)
    id: ClientId


class UpdateClientParams(ClientFields):
    path_fields: ClassVar[tuple[str, ...]] = ("id",)
    id: ClientId


class ListClientsParams(ListParams):
    query_fields: ClassVar[tuple[str, ...]] = ("limit", "next", "sort", "order_by")
    query_text: str | None = Field(
        None, alias="query", description="Find by name, legal name, RFC or email (case-insensitive)."
    )
    sort: Literal["asc", "desc"] | None = None
    order_by: Literal["timestamp", "name"] | None = None


class PortalTokenParams(ToolParams):
    id: str | None = Field(None, description="Client id (or give email).")
    email: EmailStr | None = Field(None, description="Client email (or give id).")


class FiscalValidation(Out):
    id: str | None = None
    is_valid: bool
    issues: list[str] = Field(default_factory=list, description="What to fix before invoicing this client.")
    tax_id: str | None = None


class PortalToken(Out):
    url: str
    expires_at: int | None = None


class PendingReceiptsResult(Out):
    stamped: int = 0
    failed: int = 0
    remaining: int = 0
    results: list[dict] = Field(default_factory=list)


class Deleted(Out):
    id: str | None = None
    deleted: bool = True
