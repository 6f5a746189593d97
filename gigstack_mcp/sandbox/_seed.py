"""Demo data every fresh sandbox team starts with: the account's teams, a few clients (one of them
público en general) and services. The resources' own seeds (`Resource.seeds`: invoices, payments,
receipts, teams, users) then add theirs; the app runs them in its resource order."""

from __future__ import annotations

from ._core import now
from ._fiscal import fiscal_issues
from ._store import Store

CLIENTS = [
    {
        "id": "client_publico_general",
        "name": "Público en general",
        "legal_name": "PUBLICO EN GENERAL",
        "tax_id": "XAXX010101000",
        "tax_system": "616",
        "use": "S01",
        "email": None,
        "address": {"zip": "64000", "country": "MEX"},
    },
    {
        "id": "client_juan_perez",
        "name": "Juan Pérez García",
        "legal_name": "JUAN PEREZ GARCIA",
        "tax_id": "PEGJ800101AB6",
        "tax_system": "612",
        "use": "G03",
        "email": "juan@example.com",
        "address": {"zip": "03100", "country": "MEX"},
    },
    {
        "id": "client_acme",
        "name": "Acme Industrial",
        "legal_name": "ACME INDUSTRIAL",
        "tax_id": "AIN980512QX9",
        "tax_system": "601",
        "use": "G01",
        "email": "compras@acme.example",
        "address": {"zip": "44100", "country": "MEX"},
    },
]

SERVICES = [
    {
        "id": "service_consultoria",
        "description": "Consultoría en sistemas",
        "unit_price": 1000.0,
        "product_key": "80141503",
        "unit_key": "E48",
        "unit_name": "Servicio",
        "sku": "CONS-01",
        "taxability": "02",
        "taxes": [{"type": "IVA", "rate": 0.16, "factor": "Tasa", "withholding": False, "inclusive": False}],
    },
    {
        "id": "service_hosting",
        "description": "Hosting mensual",
        "unit_price": 500.0,
        "product_key": "81112105",
        "unit_key": "MON",
        "unit_name": "Mes",
        "sku": "HOST-01",
        "taxability": "02",
        "taxes": [{"type": "IVA", "rate": 0.16, "factor": "Tasa", "withholding": False, "inclusive": False}],
    },
]


def seed_store(store: Store, team: str) -> bool:
    """The team, its clients and services; False (nothing done) when the team is already there."""
    if store.get(team, "teams", team) is not None:
        return False  # a --db file keeps its state across restarts
    t = now()
    store.put(
        team,
        "teams",
        {
            "id": team,
            "legal_name": "DEMO SANDBOX SA DE CV",
            "tax_id": "DSA200101AB8",
            "tax_system": "601",
            "address": {"zip": "64000", "country": "MEX"},
            "brand": {"alias": "Demo Sandbox"},
            "created_at": t,
        },
    )
    for c in CLIENTS:
        doc = {**c, "object": "client", "created_at": t, "livemode": False, "team": team, "metadata": {}}
        doc["is_valid"] = not fiscal_issues(doc)
        store.put(team, "clients", doc)
    for s in SERVICES:
        store.put(team, "services", {**s, "created_at": t, "livemode": False, "team": team, "metadata": {}})
    return True
