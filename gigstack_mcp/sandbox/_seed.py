"""Demo data every fresh sandbox team starts with: the account's teams, a few clients (one of them
público en general) and services. Resource helpers add invoices, payments and receipts."""

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


def seed_store(store: Store, team: str) -> None:
    if store.get(team, "teams", team) is not None:
        return  # a --db file keeps its state across restarts
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
    # Resource modules with demo data of their own (invoices, payments, receipts, teams, users) add it
    # through a module-level `seed(store, team)`, in this order so invoices exist before payments.
    from . import invoices, payments, receipts, teams, users

    for module in (invoices, payments, receipts, teams, users):
        seed = getattr(module, "seed", None)
        if seed is not None:
            seed(store, team)
