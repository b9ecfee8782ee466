"""Text normalisation for cross-run cluster matching.

Cluster titles and descriptions are written by an LLM and reworded on every run
("SQL query generation" one day, "Generating SQL queries" the next, "Small talk" /
"Greeting messages"), so they are compared as sets of tokens, not as strings:

1. lowercase, split on anything that is not a letter or digit;
2. expand a few abbreviations and join split compounds ("sign in" → "login");
3. fold British -ise spellings to -ize, then stem with Snowball (English);
4. map words and phrases of the lexicon (`llmc_checks._lexicon`) to their concept
   ("small talk", "greeting" → `=greeting`), then drop English stopwords;
5. compare token sets with a weighted Dice coefficient in which two stems also
   match when one is a prefix of the other ("fail" / "failur", "summar" / "summari"),
   because Snowball does not conflate every derivation.

Words that LLM titles use for any topic ("requests", "help", "issues") get a low
weight, so sharing them says little and missing them costs little; a `Vocabulary` of
the runs' labels also weighs down words every cluster of a product uses. The stemmer
is imported lazily: the plugin must stay cheap to import."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

# Letters and digits (any script); "_" is a word character for `\w` but not for us.
_WORD = re.compile(r"[^\W_]+")

# The title runs.py gives a cluster without one: it carries no topic at all.
_PLACEHOLDER_TITLE = re.compile(r"\s*cluster\s+-?\d+\s*", re.IGNORECASE)

# A compact English stopword list (function words only). Content words stay even
# when common, because in a four-word title every content word matters. A word list
# reads better than 130 quoted strings, hence the split.
STOPWORDS: frozenset[str] = frozenset(
    """
    a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each
    etc few for from further had has have having he her here hers herself him himself his
    how i if in into is it its itself just me more most my myself no nor not now of off
    on once only or other our ours ourselves out over own same she should so some such
    than that the their theirs them themselves then there these they this those through
    to too under until up very via vs was we were what when where which while who whom
    why will with within without would you your yours yourself yourselves
    e g eg ie
    """.split()  # noqa: SIM905
)

# Abbreviations LLM titles use interchangeably with the full word (lowercase, pre-stem).
ABBREVIATIONS: Mapping[str, str] = {
    "js": "javascript",
    "ts": "typescript",
    "db": "database",
    "dbs": "databases",
    "auth": "authentication",
    "authn": "authentication",
    "docs": "documents",
    "doc": "document",
    "repo": "repository",
    "repos": "repositories",
    "config": "configuration",
    "configs": "configurations",
    "info": "information",
    "msg": "message",
    "msgs": "messages",
    "signin": "login",
    "logon": "login",
    "logins": "login",
    "chitchat": "chat",
    "qa": "question",
    "faq": "question",
    "faqs": "questions",
    "llm": "model",
    "llms": "models",
}

# Two-word spellings of one concept, joined before stopword removal ("log in" would
# otherwise lose "in" and keep a bare "log", which means something else).
COMPOUNDS: Mapping[tuple[str, str], str] = {
    ("sign", "in"): "login",
    ("sign", "on"): "login",
    ("log", "in"): "login",
    ("e", "mail"): "email",
    ("e", "mails"): "emails",
    ("chit", "chat"): "chat",
    ("follow", "up"): "followup",
    ("set", "up"): "setup",
}

# Stems of words an LLM puts in a title whatever the topic: what kind of exchange it
# was ("requests", "questions", "help"), what was done ("generating", "fixing",
# "troubleshooting") and what went wrong ("issues", "errors", "failures"). They say
# little about the subject, and rewordings swap them freely.
GENERIC_STEMS: frozenset[str] = frozenset(
    {
        # kind of exchange
        "request",
        "ask",
        "want",
        "need",
        "assistant",
        "bot",
        "question",
        "inquiri",
        "help",
        "task",
        "assist",
        "assistanc",
        "support",
        "convers",
        "messag",
        "discuss",
        "topic",
        "user",
        "flow",
        # what was done
        "generat",
        "creat",
        "creation",
        "write",
        "build",
        "make",
        "produc",
        "get",
        "use",
        "work",
        "handl",
        "process",
        "manag",
        "understand",
        "explain",
        "find",
        "improv",
        "fix",
        "resolv",
        "troubleshoot",
        "debug",
        # what went wrong
        "issu",
        "problem",
        "error",
        "fail",
        "failur",
        # fillers
        "relat",
        "descript",
        "content",
        "various",
        "general",
        "common",
        "misc",
        "miscellan",
    }
)

# Lexicon concepts are tokens of their own, apart from any stem.
CONCEPT_PREFIX = "="

# Concepts any topic's label may use: "errors" and "generating" say little.
GENERIC_CONCEPTS: frozenset[str] = frozenset({"=error", "=generate", "=person"})

# Weight of a generic stem relative to an ordinary one (1.0). Tuned in
# tests/test_matching.py::test_title_threshold_separates_corpus.
GENERIC_WEIGHT = 0.2

# A stem this short is too ambiguous to match others by prefix ("use" / "user").
MIN_PREFIX_STEM = 4

# British -ise/-isation endings after a base of at least four letters ("summar-ise";
# not "ra-ise", "no-ise", "pra-ise", which are no -ize variants).
_ISE = re.compile(r"^(.{4,})is(e|es|ed|ing|ation|ations|er|ers)$")

# Longer words spelt -ise in American English too: folding them to -iz would split
# them from their relatives ("revising" / "revision").
_NOT_IZE = (
    "advertis",
    "apprais",
    "chastis",
    "compris",
    "compromis",
    "concis",
    "despis",
    "devis",
    "disguis",
    "enterpris",
    "exercis",
    "expertis",
    "franchis",
    "improvis",
    "merchandis",
    "otherwis",
    "paradis",
    "precis",
    "premis",
    "promis",
    "revis",
    "supervis",
    "surpris",
    "televis",
)


@lru_cache(maxsize=1)
def _stem_function() -> Callable[[str], str]:
    # Lazy: only cross-run checks stem.
    import Stemmer  # type: ignore[import-not-found]

    stemmer = Stemmer.Stemmer("english")

    def stem_word(word: str) -> str:
        result: str = stemmer.stemWord(word)
        return result

    return stem_word


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Snowball stem of a lowercase word, with -ise spellings folded to -ize."""
    # The "is" test is the cheap part of _ISE: most words (and the lexicon's ~1,100,
    # stemmed at its first use) skip the regex.
    if "is" in word and not word.startswith(_NOT_IZE):
        word = _ISE.sub(r"\1iz\2", word)
    return _stem_function()(word)


def words(text: str) -> list[str]:
    """Lowercase words of `text`, abbreviations expanded and compounds joined."""
    raw = _WORD.findall(text.lower())
    out: list[str] = []
    i = 0
    while i < len(raw):
        pair = (raw[i], raw[i + 1]) if i + 1 < len(raw) else None
        if pair is not None and pair in COMPOUNDS:
            out.append(COMPOUNDS[pair])
            i += 2
            continue
        out.append(ABBREVIATIONS.get(raw[i], raw[i]))
        i += 1
    return out


@dataclass(frozen=True, slots=True)
class _Lexicon:
    surface: Mapping[str, str]  # word as listed → concept token
    words: Mapping[str, str]  # stem → concept token
    phrases: Mapping[tuple[str, ...], str]  # stems of a phrase → concept token
    # Facet ("task", "language") → its concept tokens: two labels naming disjoint
    # values of one facet contradict each other.
    facets: Mapping[str, frozenset[str]]

    @property
    def all_facets(self) -> frozenset[str]:
        return frozenset().union(*self.facets.values())


@lru_cache(maxsize=1)
def _lexicon() -> _Lexicon:
    from llmc_checks._lexicon import CONCEPTS

    surface: dict[str, str] = {}
    single: dict[str, str] = {}
    phrases: dict[tuple[str, ...], str] = {}
    facets: dict[str, set[str]] = {}
    for line in CONCEPTS.strip().splitlines():
        head, _, body = line.partition(":")
        *kind, name = head.split()
        token = CONCEPT_PREFIX + name
        for facet in kind:
            facets.setdefault(facet, set()).add(token)
        for entry in body.split():
            parts = tuple(stem(w) for w in entry.split("_"))
            if len(parts) == 1:
                surface[entry] = token
                single.setdefault(parts[0], token)
            else:
                phrases[parts] = token
    return _Lexicon(
        surface=surface,
        words=single,
        phrases=phrases,
        facets={k: frozenset(v) for k, v in facets.items()},
    )


def _stemmed(text: str) -> list[tuple[str, str]]:
    """(word, stem) for every word of `text`, stopwords included (phrases need them)."""
    return [(w, stem(w)) for w in words(text)]


@lru_cache(maxsize=16384)
def tokens(text: str) -> tuple[str, ...]:
    """Content tokens of `text`: lexicon concepts (`=name`) and the stems of other words.

    Phrases of the lexicon ("small talk", "where is my order") are matched on stems
    before stopwords go, longest first. Empty for a placeholder title.
    """
    if _PLACEHOLDER_TITLE.fullmatch(text):
        return ()
    pairs = _stemmed(text)
    lexicon = _lexicon()
    out: list[str] = []
    i = 0
    while i < len(pairs):
        for span in (4, 3, 2):
            key = tuple(s for _, s in pairs[i : i + span])
            if len(key) == span and key in lexicon.phrases:
                out.append(lexicon.phrases[key])
                i += span
                break
        else:
            word, stemmed = pairs[i]
            i += 1
            # Single letters are leftovers of punctuation ("user's" → "user", "s").
            if word in STOPWORDS or (len(word) < 2 and not word.isdigit()):
                continue
            out.append(lexicon.surface.get(word) or lexicon.words.get(stemmed, stemmed))
    return tuple(out)


@lru_cache(maxsize=16384)
def stems(text: str) -> frozenset[str]:
    """The set of content tokens of `text` (empty for a placeholder title)."""
    return frozenset(tokens(text))


@lru_cache(maxsize=16384)
def label_tokens(title: str, description: str) -> frozenset[str]:
    """The tokens of a whole label (title and description), one object per label."""
    return stems(title) | stems(description)


def subject(token_set: frozenset[str]) -> frozenset[str]:
    """What a label is about: its tokens that name no task or language and are not
    generic ("Appointment booking" → appointment)."""
    facets = _lexicon().all_facets
    return frozenset(t for t in token_set if t not in facets and weight(t) == 1.0)


def contradict(a: frozenset[str], b: frozenset[str]) -> bool:
    """Whether two token sets name disjoint values of one facet (task, language)."""
    for values in _lexicon().facets.values():
        ours, theirs = a & values, b & values
        if ours and theirs and not ours & theirs:
            return True
    return False


def has_text(text: str) -> bool:
    """Whether `text` has any content word to compare (not empty, not a placeholder)."""
    return bool(stems(text))


def weight(token: str) -> float:
    return GENERIC_WEIGHT if token in GENERIC_STEMS or token in GENERIC_CONCEPTS else 1.0


Weigh = Callable[[str], float]


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """How many of a set of labels use each token: a word every cluster of a
    product's runs uses ("customer" for a support bot) tells its clusters apart as
    little as a generic word does."""

    counts: Mapping[str, int]
    labels: int
    # Memo of `weight`: pairing asks for the same tokens many times.
    _weights: dict[str, float] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, labels: Iterable[frozenset[str]]) -> Vocabulary:
        counts: dict[str, int] = {}
        n = 0
        for tokens_ in labels:
            n += 1
            for t in tokens_:
                counts[t] = counts.get(t, 0) + 1
        return cls(counts, n)

    def weight(self, token: str) -> float:
        """`weight(token)` times a smoothed inverse label frequency in (0, 1]."""
        cached = self._weights.get(token)
        if cached is None:
            cached = self._weights[token] = self._weigh(token)
        return cached

    def _weigh(self, token: str) -> float:
        if self.labels < 2:
            return weight(token)
        df = min(self.counts.get(token, 1), self.labels)
        rarity = math.log((self.labels + 1) / df) / math.log(self.labels + 1)
        return weight(token) * max(MIN_RARITY, rarity)


# A token every label uses still counts this much: some clusters are alike.
MIN_RARITY = 0.25


def _related(a: str, b: str) -> bool:
    """Same stem, or one stem extends the other ("fail" / "failur")."""
    if a == b:
        return True
    if a.startswith(CONCEPT_PREFIX) or b.startswith(CONCEPT_PREFIX):
        return False
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    return len(short) >= MIN_PREFIX_STEM and long.startswith(short)


@lru_cache(maxsize=8192)
def _by_prefix(tokens: frozenset[str]) -> Mapping[str, tuple[str, ...]]:
    """Stems of `tokens` by their first MIN_PREFIX_STEM letters: prefix-related stems
    share them, so each token is compared with a handful, not all."""
    out: dict[str, list[str]] = {}
    for t in tokens:
        if len(t) >= MIN_PREFIX_STEM and not t.startswith(CONCEPT_PREFIX):
            out.setdefault(t[:MIN_PREFIX_STEM], []).append(t)
    return {k: tuple(v) for k, v in out.items()}


def _matched_weight(these: Iterable[str], others: frozenset[str], w: Weigh) -> float:
    total = 0.0
    buckets = _by_prefix(others)
    for token in these:
        if token in others or any(
            _related(token, o) for o in buckets.get(token[:MIN_PREFIX_STEM], ())
        ):
            total += w(token)
    return total


def covered(these: frozenset[str], others: frozenset[str], w: Weigh = weight) -> float:
    """Weighted share of `these` tokens that find a related token in `others`."""
    total = sum(w(t) for t in these)
    return _matched_weight(these, others, w) / total if total else 0.0


def stem_similarity(a: frozenset[str], b: frozenset[str], w: Weigh = weight) -> float:
    """Weighted, prefix-tolerant Dice coefficient of two stem sets, in [0, 1].

    Each side contributes the weight of its stems that find a related stem on the
    other side; the sum is divided by both sides' total weight. With unit weights
    and exact matching this is the plain Dice coefficient 2|A∩B| / (|A|+|B|).
    Empty text carries no evidence either way, so it scores 0.
    """
    if not a or not b:
        return 0.0
    total = sum(w(t) for t in a) + sum(w(t) for t in b)
    matched = _matched_weight(a, b, w) + _matched_weight(b, a, w)
    return min(1.0, matched / total) if total else 0.0


def text_similarity(a: str, b: str) -> float:
    """`stem_similarity` of two free texts (titles or descriptions)."""
    return stem_similarity(stems(a), stems(b))
