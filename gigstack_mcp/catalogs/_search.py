"""Ranked, accent- and case-insensitive search over the catalogs, with the common names of data/synonyms.toml.

One inverted index per catalog, built on its first search and kept for the process: word -> row numbers,
for three fields weighted differently (a common name beats the SAT name, which beats the SAT's longer
description of a unit), and a fourth searched last: the SAT's "Palabras similares" of a product
(`potros` -> 10101506 Caballos), whose rows rank below every row having the words in a field above.
A query word matches a row's word exactly, as its prefix (`transf` -> `transferencia`), without a plural
ending (`piezas` -> `pieza`), by stem (`computadoras` -> `computador*`), or a code prefix (`8214` ->
8214xxxx).

Ranking: an exact code first; then rows having every query word (stop words like `de` ignored), by
weight and by how much of the SAT name the query covers (`Pieza` before `Piezas de repuesto`); when no
row has every word, the rows with the most informative words (rarer words weigh more) and `partial`
says so. A search of all 17 catalogs takes ~0.3 ms (p50, benchmarks/catalog_search.py)."""

from __future__ import annotations

import math
import re
import tomllib
import unicodedata
from array import array
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from heapq import nlargest
from importlib.resources import files
from typing import Any, NamedTuple

from ._tables import _TABLES, CATALOGS, LARGE, SIMILAR_COLUMN, row_at, rows, table
from ._tables import code_keys as catalog_code_keys

# Field weights: a curated common name, the SAT name, the SAT's longer description (c_ClaveUnidad), the
# SAT's "Palabras similares" (c_ClaveProdServ).
ALIAS, NAME, DETAIL, SIMILAR = 1.2, 1.0, 0.5, 0.4
PREFIX, PLURAL = 0.8, 0.95  # multipliers for a prefix match and a singular form
# Taken off a row having a query word only in its similar words: it then ranks below every row having
# all the words in its name (the SAT name is what the invoice shows; similar words are the SAT's hints).
SIMILAR_ONLY = 1.0
COVERAGE = 0.3  # weight of "the query is most of the name"
PRIOR = 0.2  # the small CFDI catalogs (régimen, uso, forma de pago, moneda…) before 52,000 products
EXACT = 1000.0  # an exact code is always first
# c_ClaveUnidad rows whose SAT note says UNECE deleted or BIPM discourages the unit: still valid, but a
# current unit should rank first ("pieza": H87 Pieza, not 3G Libra por pieza de producto).
RETIRED, RETIRED_NOTES = 0.15, ("Las unidades marcadas como borradas", "Unidades no recomendadas")
MIN_PREFIX = 3  # shorter query words match whole words only (`de` is not a prefix search)
_WORD = re.compile(r"[a-z0-9]+")
# Spanish articles, prepositions and conjunctions: "diseño de logotipo" searches diseño + logotipo.
STOP = frozenset("a al con de del e el en la las lo los o para por se sin su u un una unas unos y".split())  # noqa: SIM905


def words(text: str) -> list[str]:
    """Lower-case ASCII words: accents dropped (`Diseño` -> `diseno`), like catalogs.fold but ~10x faster
    on 52,000 names (no per-character Python loop); other non-ASCII letters are not word characters."""
    return _WORD.findall(unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower())


class Found(NamedTuple):
    rows: list[dict[str, Any]]  # best first, at most `limit`
    total: int  # how many rows matched
    partial: bool  # True: no row has every word; these have some


@dataclass(frozen=True)
class Index:
    slug: str
    size: int
    code_keys: list[str]  # casefolded codes, sorted (a bisect, not a dict: 52,000 entries cost ~5 MB)
    code_rows: array  # row number of each of code_keys
    vocab: list[str]  # sorted, every word of every field
    fields: tuple[tuple[float, dict[str, array]], ...]  # (weight, word -> row numbers)
    similar: dict[str, array]  # word -> row numbers, of the SAT's palabras similares
    lengths: array  # content words in each row's name
    retired: frozenset[int]  # rows ranked a little lower (RETIRED_NOTES)

    def matches(self, query: str) -> tuple[dict[int, float], set[int]]:
        """Row number -> best weight of one query word in that row; and the rows having it only in their
        similar words."""
        candidates = [(query, 1.0)]
        if len(query) >= MIN_PREFIX:
            start = end = bisect_left(self.vocab, query)
            while end < len(self.vocab) and self.vocab[end].startswith(query):
                end += 1
            candidates = [(w, 1.0 if w == query else PREFIX) for w in self.vocab[start:end]]
        candidates += [(stem, PLURAL) for stem in _singulars(query)]
        by_code = self.code_prefix(query)
        stem = _stem(query)
        if stem:  # computadoras -> computador*: SAT mixes computador/computadora/computadores
            start = end = bisect_left(self.vocab, stem)
            while end < len(self.vocab) and self.vocab[end].startswith(stem):
                end += 1
            candidates += [(w, PLURAL * PREFIX) for w in self.vocab[start:end]]
        weighted = [
            (weight * factor, ids)
            for word, factor in candidates
            for weight, postings in self.fields
            if (ids := postings.get(word)) is not None
        ]
        weighted.sort(key=lambda pair: pair[0])
        best: dict[int, float] = dict.fromkeys(by_code, NAME)
        for w, ids in weighted:  # ascending: a later (higher) weight overwrites, all in C
            best.update(dict.fromkeys(ids, w))
        similar: dict[int, float] = {}
        found = [(SIMILAR * f, ids) for word, f in candidates if (ids := self.similar.get(word)) is not None]
        for w, ids in sorted(found, key=lambda pair: pair[0]):
            similar.update(dict.fromkeys(ids, w))
        only_similar = similar.keys() - best.keys()
        best.update((i, similar[i]) for i in only_similar)
        return best, only_similar

    def row_of(self, code: str) -> int | None:
        """The row number of this code (casefolded), or None."""
        at = bisect_left(self.code_keys, code)
        found = at < len(self.code_keys) and self.code_keys[at] == code
        return self.code_rows[at] if found else None

    def code_prefix(self, query: str) -> list[int]:
        """Rows whose code starts with `query` (`8214` -> the 8214xxxx family); codes are not indexed as
        words, which would add 52,000 one-row entries."""
        if not query.isalnum():
            return []
        start = end = bisect_left(self.code_keys, query)
        while end < len(self.code_keys) and self.code_keys[end].startswith(query):
            end += 1
        return list(self.code_rows[start:end])


def _singulars(word: str) -> list[str]:
    if len(word) <= MIN_PREFIX or not word.endswith("s"):
        return []
    return [word[:-1], word[:-2]] if word.endswith("es") else [word[:-1]]


def _stem(word: str) -> str | None:
    """The word without plural and final vowel (a prefix search), for words of 6+ letters."""
    base = word[:-1] if word.endswith("s") else word
    return base[:-1] if len(base) >= 6 and base[-1] in "aeo" else None


@cache
def synonyms() -> dict[str, dict[str, list[str]]]:
    """slug -> code -> extra words, from data/synonyms.toml."""
    data = tomllib.loads(files(__package__).joinpath("data/synonyms.toml").read_text("utf-8"))
    found: dict[str, dict[str, list[str]]] = {}
    for alias in data["alias"]:
        extra = [w for phrase in alias["words"] for w in words(phrase)]
        for target in alias["codes"]:
            slug, code = target.split(":")
            found.setdefault(slug, {}).setdefault(code, []).extend(extra)
    return found


def _columns(slug: str) -> tuple[list[str], list[str], list[str], list[str]]:
    """Codes, names, longer descriptions (c_ClaveUnidad's `detalle`) and similar words (c_ClaveProdServ's
    `palabras_similares`) of a catalog."""
    name = CATALOGS[slug].file
    if name not in _TABLES:
        found = rows(slug)
        empty = ["" for _ in found]
        return [r["code"] for r in found], [r["description"] for r in found], empty, empty
    meta, found = table(name)

    def column(title: str) -> list[str]:
        at = meta["columns"].index(title) if title in meta["columns"] else None
        return [r[at] if at is not None else "" for r in found]

    return [r[0] for r in found], [r[1] for r in found], column("detalle"), column(SIMILAR_COLUMN)


def _postings(texts: Iterable[tuple[int, list[str]]], lengths: array | None = None) -> dict[str, array]:
    """word -> row numbers; `lengths` (if given) gets each text's count of content words, in order."""
    found: dict[str, list[int]] = {}
    for i, text in texts:
        if lengths is not None:  # repeated words count: "Litro por litro" is longer than "Litro"
            lengths.append(max(1, sum(w not in STOP for w in text)))
        for w in set(text):
            found.setdefault(w, []).append(i)
    return {w: array("I", ids) for w, ids in found.items()}


@cache
def index(slug: str) -> Index:
    codes, names, details, similar = _columns(slug)
    code_keys, code_rows = catalog_code_keys(slug)
    position = {c: i for i, c in enumerate(codes)} if slug not in LARGE else None
    lengths = array("H")
    aliases = synonyms().get(slug, {})

    def row(code: str) -> int:
        return position[code] if position is not None else code_rows[bisect_left(code_keys, code.casefold())]

    fields = (
        (ALIAS, _postings((row(code), extra) for code, extra in aliases.items())),
        (NAME, _postings(((i, words(n)) for i, n in enumerate(names)), lengths)),
        (DETAIL, _postings((i, words(d)) for i, d in enumerate(details) if d)),
    )
    similar_postings = _postings((i, words(s)) for i, s in enumerate(similar) if s)
    vocab = sorted({w for field in (*(f for _, f in fields), similar_postings) for w in field})
    return Index(
        slug, len(codes), code_keys, code_rows, vocab, fields, similar_postings, lengths, _retired(slug)
    )


def _retired(slug: str) -> frozenset[int]:
    meta, found = table(CATALOGS[slug].file) if CATALOGS[slug].file in _TABLES else ({"columns": []}, ())
    if "nota" not in meta["columns"]:
        return frozenset()
    at = meta["columns"].index("nota")
    return frozenset(i for i, r in enumerate(found) if r[at].startswith(RETIRED_NOTES))


def _query_words(text: str) -> list[str]:
    found = words(text)
    content = [w for w in found if w not in STOP]
    return list(dict.fromkeys(content or found))  # only stop words ("de"): search them


def _scored(ix: Index, wanted: list[str], exact_code: str) -> tuple[dict[int, float], bool, set[int]]:
    """Row -> score for the rows having every word, else (partial) for those having some; and the rows
    having some word only in their similar words."""
    per_word, only_similar = [], set()
    for w in wanted:
        found, weak = ix.matches(w)
        per_word.append(found)
        only_similar |= weak
    idf = [math.log(1 + ix.size / (1 + len(m))) for m in per_word]
    total_idf = sum(idf) or 1.0
    common = set(min(per_word, key=len)).intersection(*per_word)
    partial = not common
    pool = set().union(*per_word) if partial else common
    code_row = ix.row_of(exact_code)
    if code_row is not None:
        pool.add(code_row)
    n, lengths, prior = len(wanted), ix.lengths, PRIOR if ix.slug not in LARGE else 0.0
    if n == 1:
        (m,) = per_word
        scores = {i: m.get(i, 0.0) + COVERAGE * min(1.0, 1 / lengths[i]) + prior for i in pool}
    else:
        pairs = [(m, f / total_idf) for m, f in zip(per_word, idf, strict=True)]
        scores = {
            i: sum(m.get(i, 0.0) * f for m, f in pairs) + COVERAGE * min(1.0, n / lengths[i]) + prior
            for i in pool
        }
    for i in ix.retired.intersection(scores):
        scores[i] -= RETIRED
    only_similar &= scores.keys()
    for i in only_similar:
        scores[i] -= SIMILAR_ONLY
    if code_row is not None:
        scores[code_row] += EXACT
    return scores, partial, only_similar


def find(
    text: str, slugs: Iterable[str] | None = None, limit: int | None = 30, partial: bool = True
) -> Found:
    """The rows of these catalogs (all when None) that best match `text`, best first.

    Rows having every word rank above those that do not; when no row of any catalog has every word and
    `partial` is True, the rows having some of them are returned (Found.partial)."""
    wanted = _query_words(text)
    if not wanted:
        return Found([], 0, False)
    exact_code = "".join(str(text).split()).casefold()
    full: list[tuple[float, int, str, int]] = []
    some: list[tuple[float, int, str, int]] = []
    full_total = some_total = 0
    only_similar: dict[str, set[int]] = {}
    for slug in slugs or CATALOGS:
        scores, is_partial, only_similar[slug] = _scored(index(slug), wanted, exact_code)
        if is_partial:
            exact = {i: v for i, v in scores.items() if v >= EXACT}  # an exact code is a full match
            full_total, some_total = full_total + len(exact), some_total + len(scores)
            full += _top(exact, slug, limit)
            some += _top(scores, slug, limit)
        else:
            full_total += len(scores)
            full += _top(scores, slug, limit)
    if full or not partial:
        pool, total, is_partial = full, full_total, False
    else:
        pool, total, is_partial = some, some_total, bool(some)
    best = nlargest(limit, pool) if limit is not None else sorted(pool, reverse=True)
    # a row found through its similar words shows them: the reason "servicios administrativos" found it
    found = [row_at(slug, i, similar=i in only_similar[slug]) for _, _, slug, i in best]
    return Found(found, total, is_partial)


def _top(scores: dict[int, float], slug: str, limit: int | None) -> list[tuple[float, int, str, int]]:
    """The best `limit` of one catalog (ties: lower row number, i.e. lower code, first)."""
    items = (
        scores.items() if limit is None else nlargest(limit, scores.items(), key=lambda kv: (kv[1], -kv[0]))
    )
    return [(score, -i, slug, i) for i, score in items]
