"""SAT rules that both the guard rails (guards/cfdi/) and the embedded sandbox apply, kept in one
place so the two can never disagree. Pure: no I/O, no imports from the rest of the package."""

from __future__ import annotations

from datetime import date

GLOBAL_YEAR_FLOOR = 2019  # cfdv40.xsd: InformacionGlobal/@Año is a short >= 2019
GLOBAL_YEARS_BACK = 5  # Matriz de errores CFDI40136: the current year or up to 5 previous ejercicios


def global_year_range(today: date) -> tuple[int, int]:
    """The years a global invoice (InformacionGlobal/@Año) may state when issued on `today`."""
    return max(GLOBAL_YEAR_FLOOR, today.year - GLOBAL_YEARS_BACK), today.year
