"""Text analysis for tool search: identifier-aware tokens, a small stopword list, a light stemmer.

Tool text mixes prose ("Convert a CSV file") with identifiers (``csv_to_parquet``, ``readFile``,
``files.read``, ``max-rows``), so the tokenizer splits identifiers into their words. Normalisation is
deliberately light (lower case, English function words dropped, plural ``-s`` folded): it was measured on
the development splits of ToolLens and MetaTool (``benchmarks/discovery_quality.py``), where heavier
stemming did not pay for the surprises it gives people reading ``matched``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, MutableMapping
from functools import lru_cache
from itertools import chain
from sys import intern

try:  # the C loop behind ``Counter.update``, without ``Counter()``'s ~3 µs per call (5 calls per tool)
    from _collections import _count_elements
except ImportError:  # pragma: no cover - other interpreters

    def _count_elements(mapping: MutableMapping[str, int], iterable: Iterable[str]) -> None:
        for item in iterable:
            mapping[item] = mapping.get(item, 0) + 1

from toolnexus.core.spec import ToolSpec

# Runs of letters and digits in any script; ``_``, ``.``, ``-``, ``/`` and spaces all separate.
_WORD = re.compile(r"[^\W_]+")

BOUNDARY = "\x00"
"""What :func:`terms_of_many` yields between two texts: a separator in text, so never a term."""
_WORD_OR_BOUNDARY = re.compile(r"[^\W_]+|\x00")

STOPWORDS = frozenset(
    re.findall(
        r"\w+",
        """a an and are as at be by can could do does for from get give has have how i im in is it its me my
        of on or our please should so some than that the their them then there these they this to us was we what
        when where which who will with would you your d ll m re s t ve""",
    )
)
"""English function words dropped from queries and tool text (they match everything and mean nothing)."""

FIELDS = ("name", "summary", "description", "tags", "arguments")
"""The searchable fields of a tool, in the order ``SearchHit.matched`` reports them."""


def tokenize(text: str) -> list[str]:
    """Lower-case words; ``snake_case``, ``camelCase``, ``dotted.names`` and ``kebab-case`` split.

    Letters and digits stay together (``s3``, ``base64``, ``utf8``), as in the reference evaluator.
    """
    words: list[str] = []
    for word in _WORD.findall(text):
        if word.islower() or word.isdigit() or word.istitle():  # prose: no identifier boundary inside
            words.append(word.lower())
        else:
            words.extend(part.lower() for part in _camel_parts(word))
    return words


def _camel_parts(word: str) -> list[str]:
    # Boundaries at lower/digit-to-upper (``readFile``, ``utf8Decode``) and at the last capital of an
    # acronym before a word (``HTTPServer``), in any script (``ÉtéCafé``).
    parts: list[str] = []
    start = 0
    for i in range(1, len(word)):
        before, here = word[i - 1], word[i]
        if here.isupper() and (
            before.islower() or before.isdigit() or (before.isupper() and _starts_word(word, i))
        ):
            parts.append(word[start:i])
            start = i
    parts.append(word[start:])
    return parts


def _starts_word(word: str, i: int) -> bool:
    # ``HTTPServer``: the ``S`` starts ``Server``; ``getURLs``: the ``s`` is the acronym's plural.
    after = word[i + 1 : i + 3]
    return bool(after) and after[0].islower() and not (after[0] == "s" and (len(after) == 1 or after[1].isupper()))


@lru_cache(maxsize=65536)  # vocabularies repeat: most calls are cache hits
def stem(word: str) -> str:
    """Fold English plurals (Harman's S-stemmer): ``files`` -> ``file``, ``queries`` -> ``query``."""
    if len(word) <= 3 or not word.endswith("s"):
        return word
    if word.endswith("ies") and not word.endswith(("eies", "aies")):
        return word[:-3] + "y"
    if word.endswith("es") and not word.endswith(("aes", "ees", "oes")):
        return word[:-1]
    if word.endswith(("us", "ss")):
        return word
    return word[:-1]


def _word_terms(word: str, stopwords: bool, stemming: bool) -> tuple[str, ...]:
    # The index terms of one ``_WORD`` match: what ``analyze`` yields for it, in order.
    if word.islower() or word.isdigit():  # most words: one term, no identifier to split
        if stopwords and word in STOPWORDS:
            return ()
        return (intern(stem(word) if stemming else word),)
    terms = tokenize(word)
    if stopwords:
        terms = [t for t in terms if t not in STOPWORDS]
    return tuple(intern(stem(t) if stemming else t) for t in terms)


class _TermCache(dict[str, tuple[str, ...]]):
    """Word -> its index terms, for one analysis setting.

    Catalog text repeats its words endlessly, so splitting, stopwords and stemming run once per distinct
    word and each occurrence costs a dict lookup (building a 100k-tool index went from ~20 s to seconds).
    The terms are interned, so every tool and postings key holding a term shares one string object.
    """

    LIMIT = 1 << 20  # distinct words kept; a bound on memory, reached only by huge unique-word catalogs

    def __init__(self, stopwords: bool, stemming: bool) -> None:
        super().__init__()
        self.stopwords, self.stemming = stopwords, stemming

    def __missing__(self, word: str) -> tuple[str, ...]:
        if word == BOUNDARY:  # only terms_of_many's pattern matches it: it stays itself
            return (BOUNDARY,)
        if len(self) >= self.LIMIT:
            self.clear()
        terms = self[word] = _word_terms(word, self.stopwords, self.stemming)
        return terms


_CACHES = {(stop, stem_): _TermCache(stop, stem_) for stop in (True, False) for stem_ in (True, False)}


def _terms(text: str, stopwords: bool, stemming: bool) -> chain[str]:
    return chain.from_iterable(map(_CACHES[stopwords, stemming].__getitem__, _WORD.findall(text)))


def analyze(text: str, *, stopwords: bool = True, stemming: bool = True) -> list[str]:
    """The index terms of ``text``: tokens, without stopwords, plurals folded (each step optional)."""
    return list(_terms(text, bool(stopwords), bool(stemming)))


def terms_of_many(texts: list[str], *, stopwords: bool = True, stemming: bool = True) -> Iterator[str]:
    """The :func:`analyze` terms of each of ``texts`` in turn, with :data:`BOUNDARY` between two texts.

    One regex pass over the texts joined by the boundary, and no Python code per word (the per-word work
    is C iterators over the term cache): what building an index of many tools spends its time on.
    """
    joined = BOUNDARY.join(texts)
    if joined.count(BOUNDARY) != max(len(texts) - 1, 0):  # a text holds the character: a separator there
        joined = BOUNDARY.join(text.replace(BOUNDARY, " ") for text in texts)
    cache = _CACHES[bool(stopwords), bool(stemming)]
    return chain.from_iterable(map(cache.__getitem__, _WORD_OR_BOUNDARY.findall(joined)))


def _argument_text(schema: object, depth: int = 0) -> list[str]:
    # Names and descriptions of the arguments, one level of nesting deep (objects of options are common,
    # deeper schemas are mostly plumbing).
    if not isinstance(schema, dict) or depth > 1:
        return []
    properties = schema.get("properties")
    out: list[str] = []
    if isinstance(properties, dict):
        for name, prop in properties.items():
            out.append(str(name))
            if isinstance(prop, dict):
                for key in ("title", "description"):
                    text = prop.get(key)
                    if isinstance(text, str):
                        out.append(text)
                # Descend only where there is something nested (this runs for every argument of every tool).
                if depth < 1 and ("properties" in prop or "items" in prop):
                    out.extend(_argument_text(prop, depth + 1))
                    out.extend(_argument_text(prop.get("items"), depth + 1))
    return out


def field_texts(spec: ToolSpec) -> dict[str, str]:
    """The text of each searchable field of ``spec``."""
    return {
        "name": spec.name,
        "summary": spec.summary,
        "description": spec.description,
        "tags": " ".join(spec.tags),
        "arguments": " ".join(_argument_text(spec.input_schema)),
    }


def field_columns(specs: Iterable[ToolSpec]) -> dict[str, list[str]]:
    """:func:`field_texts` of many tools, by field: each field's texts in the order of ``specs``."""
    columns: dict[str, list[str]] = {field: [] for field in FIELDS}
    name, summary, description, tags, arguments = columns.values()
    for spec in specs:
        name.append(spec.name)
        summary.append(spec.summary)
        description.append(spec.description)
        tags.append(" ".join(spec.tags))
        arguments.append(" ".join(_argument_text(spec.input_schema)))
    return columns


def field_terms(spec: ToolSpec, *, stopwords: bool = True, stemming: bool = True) -> dict[str, Counter[str]]:
    """Term counts per searchable field of ``spec``."""
    counts = field_counts(spec, stopwords=stopwords, stemming=stemming)
    return {field: Counter(terms) for field, terms in counts.items()}


def field_counts(spec: ToolSpec, *, stopwords: bool = True, stemming: bool = True) -> dict[str, dict[str, int]]:
    """:func:`field_terms` as plain dicts (what the index builds from; cheaper to make than Counters)."""
    stopwords, stemming = bool(stopwords), bool(stemming)
    out: dict[str, dict[str, int]] = {}
    for field, text in field_texts(spec).items():
        counts: dict[str, int] = {}
        _count_elements(counts, _terms(text, stopwords, stemming))
        out[field] = counts
    return out
