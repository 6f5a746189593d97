"""SAT CFDI 4.0 catalogs shipped as package data (see data/SOURCE.md). Loaded lazily, once.

`load(name)`/`codes(name)` read a data file by its file name; the rest is keyed by the public slug
(`uso-cfdi`, `regimen-fiscal`, …, see CATALOGS) and returns plain dicts (rows as in the data files plus
`catalog` = the slug; c_TasaOCuota rows get a synthetic `code` and `description`).

The large catalogs (c_ClaveProdServ, c_ClaveUnidad, c_Moneda, c_Pais) are gzip'd TSV snapshots written by
scripts/build_catalogs.py; `find` (ranked search, _search.py) and `entry` read them as tuples, so 52,000
product codes never become 52,000 dicts unless `rows()` is asked for them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._tables import (  # noqa: F401 (the package's API)
    CATALOGS,
    LARGE,
    LEGACY,
    VERSION,
    Catalog,
    Persona,
    Table,
    applies,
    code_keys,
    codes,
    entry,
    fold,
    load,
    persona_from_rfc,
    row_at,
    rows,
    table,
    tasa_allowed,
    tasas,
    usos_for_regimen,
)

if TYPE_CHECKING:
    from ._search import Found


def find(
    text: str, slugs: Iterable[str] | None = None, limit: int | None = 30, partial: bool = True
) -> Found:
    """Ranked search (see _search.find): best rows first, `total` matched, `partial` when no row has
    every word. The index is built on the first search of each catalog and kept."""
    from ._search import find as _find

    return _find(text, slugs, limit, partial)


def search(slug: str | None, text: str) -> list[dict[str, Any]]:
    """Every row having every word of `text` (word prefixes; accents, case and stop words ignored), best
    first, an exact code first. `slug=None` searches every catalog."""
    return find(text, [slug] if slug else None, limit=None, partial=False).rows
