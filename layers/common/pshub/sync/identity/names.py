"""Legal names as a comparison key: the same company however its name was typed.

``normalise_name`` is a key for comparing, never a name to show. It folds the ways one
legal name really varies:

- legal forms in every common spelling, dotted or not, abbreviated or spelled out, as a
  suffix or (``Oy``, ``OOO``, ``PT``) a prefix: the terms are cleanco's (``cleanco``, per
  country and type, MIT-licensed) plus the bilingual and East Asian forms it lacks;
  letters typed with dots or spaces between them (``S. A.``, ``N.V.``, ``A/S``) are one
  token first, so every spelling of a form meets the same term;
- leading articles (``The``, ``Les``, ``Die``, ``Het`` ...), ``&``/``+``/"and" in the
  languages of the firms' markets, punctuation;
- Latin letters outside ASCII transliterated by ``anyascii`` (ISC-licensed; ``unidecode``
  is GPL), never dropped, then every common transliteration of a letter folded alike:
  ``Müller``, ``Mueller`` and ``Muller`` meet, as do ``Søren``/``Soeren`` and
  ``Ålborg``/``Aalborg``; doubled letters are folded too (``Strasse``/``Straße``);
- other scripts kept as themselves (casefolded and NFKC-normalised): a name in Cyrillic,
  Greek, Arabic or CJK is compared in its own script and never normalises to nothing.

If nothing is left after the legal forms and articles (a company called "Company Ltd"),
the words are kept rather than losing the name.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from anyascii import anyascii
from cleanco import prepare_default_terms

# Leading articles dropped when more words follow ("The Boston Consulting Group").
_ARTICLES = frozenset(
    ["the", "le", "la", "les", "l", "el", "los", "las", "il", "lo", "gli", "die", "der", "das", "het"]
)
# "and" in the firms' markets' languages, and the symbols typed for it.
_AND = frozenset(["and", "und", "et", "y", "e", "en", "og", "och", "ja", "i"])
_AND_WORDS = frozenset(w for w in _AND if len(w) > 1 and w != "and")
# Legal forms cleanco lacks: bilingual Canadian and Swiss pairs, typed variants.
_SUPPLEMENT = (
    "ltee",
    "limitee",
    "inc ltee",
    "ltd ltee",
    "incorporee",
    "ag sa",
    "sa ag",
    "gmbh sarl",
    "sarl gmbh",
    "oy ab",
    "ab oy",
    "pvt",
    "private",
    "pty",
    "proprietary",
    "proprietary limited",
    "public limited company",
    "limited liability company",
    "limited liability partnership",
    "limited partnership",
    "societe anonyme",
    "sociedad anonima",
    "societa per azioni",
    "aktiengesellschaft",
    "gesellschaft mit beschrankter haftung",
    "naamloze vennootschap",
    "besloten vennootschap",
    "kabushiki kaisha",
)
# Legal forms written before the name ("Oy Nokia", "OOO Romashka", "PT Astra", "UAB ...").
_PREFIX_FORMS = frozenset(
    ["oy", "oyj", "ab", "as", "uab", "sia", "pt", "cv", "kk", "ooo", "zao", "oao", "pao"]
) | frozenset(
    ["ао", "ооо", "зао", "оао", "пао", "тоо"]  # noqa: RUF001
)  # the Russian and Kazakh forms in Cyrillic: AO, OOO, ZAO, OAO, PAO, TOO
# Legal forms in scripts written without spaces: stripped where the name starts or ends with them.
_UNSPACED_FORMS = (
    "股份有限公司",
    "有限责任公司",
    "有限責任公司",
    "有限公司",
    "株式会社",
    "有限会社",
    "合同会社",
    "주식회사",
    "(주)",
    "㈜",
)
_APOSTROPHES = re.compile("['\u2018\u2019\u02bc`\u00b4]")
# Transliterations folded alike once in ASCII: umlauts written out, Nordic letters, doubles.
_DIGRAPHS = re.compile(r"ae|oe|ue|aa")
_DOUBLED = re.compile(r"([a-z])\1+")


def _is_latin(char: str) -> bool:
    return unicodedata.name(char, "").startswith("LATIN")


def _fold_ascii(word: str) -> str:
    word = _DIGRAPHS.sub(lambda m: m.group(0)[0], word)
    return _DOUBLED.sub(r"\1", word)


def _transliterate(text: str) -> str:
    """Latin letters outside ASCII into ASCII; every other script left as it is."""
    out: list[str] = []
    latin_base = False
    for char in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(char):
            if not latin_base:  # a mark on a letter of another script is part of it
                out.append(char)
            continue
        latin_base = char.isalpha() and _is_latin(char)
        out.append(anyascii(char) if latin_base and not char.isascii() else char)
    return unicodedata.normalize("NFKC", "".join(out))


def _tokens(text: str) -> list[tuple[str, str]]:
    """(what came before, word) pairs; a word is letters, digits and marks."""
    tokens: list[tuple[str, str]] = []
    gap, word = "", ""
    for char in text:
        if unicodedata.category(char)[0] in "LNM":
            word += char
            continue
        if word:
            tokens.append((gap, word))
            gap, word = "", ""
        gap += char
    if word:
        tokens.append((gap, word))
    return tokens


def _words(text: str, *, fold: bool = True) -> list[str]:
    # Folded before transliterating too: an upper-case letter outside the Latin block (the Roman
    # numeral U+2183) can fold into a Latin one (U+2184), which then transliterates as its own.
    text = _transliterate(text.casefold()).casefold().replace("&", " and ").replace("+", " and ")
    text = _APOSTROPHES.sub("", text)  # "O'Brien", "L'Oreal" (any apostrophe): one word
    # Letters, digits and marks make words (vowel signs in Indic scripts are marks); what
    # lies between two words is kept to tell initials from words.
    tokens = _tokens(text)
    words: list[str] = []
    joinable = False
    for gap, word in tokens:
        # Letters typed apart with dots or slashes are one token: "S. A." is "sa", "A/S" is
        # "as", while "A S.A." stays "a sa".
        initial = len(word) == 1 and word.isalpha()
        if initial and joinable and ("." in gap or "/" in gap):
            words[-1] += word
        else:
            words.append(word)
        joinable = initial or (joinable and len(words[-1]) > 1 and ("." in gap or "/" in gap))
    words = ["and" if w in _AND_WORDS else w for w in words]  # "und", "et" ...: one spelling
    return [_fold_ascii(w) if fold and w.isascii() else w for w in words]


@lru_cache(maxsize=2)
def _terms(fold: bool) -> tuple[tuple[str, ...], ...]:
    spelled = {" ".join(parts) for _size, parts in prepare_default_terms()} | set(_SUPPLEMENT)
    terms = {tuple(_words(term, fold=fold)) for term in spelled}
    terms.discard(())
    return tuple(sorted(terms, key=lambda t: (-len(t), t)))


def _strip_forms(words: list[str], *, fold: bool) -> list[str]:
    """Legal forms off the end (repeatedly: "GmbH & Co. KG"), then the forms written first."""
    stripped = True
    while stripped and words:
        stripped = False
        for term in _terms(fold):
            size = len(term)
            if len(words) > size and tuple(words[-size:]) == term:
                del words[-size:]
                stripped = True
                break
    while len(words) > 1 and words[0] in _PREFIX_FORMS:
        del words[0]
    return words


def _strip_unspaced(words: list[str]) -> list[str]:
    for i in (0, -1):
        if not words:
            break
        word = words[i]
        for form in _UNSPACED_FORMS:
            if word != form and word.startswith(form):
                words[i] = word[len(form) :]
            elif word != form and word.endswith(form):
                words[i] = word[: -len(form)]
    return words


def normalise_name(name: str | None) -> str | None:
    """The comparison key of a company name, or ``None`` when there is no name at all."""
    words = _base_words(name, fold=True)
    return " ".join(words) if words else None


def name_words(name: str | None) -> list[str]:
    """A name's own words, transliterated, without legal forms or articles: for display keys.

    Unlike ``normalise_name`` the spelling is kept (no folding of ``ue`` or doubled letters).
    """
    return _base_words(name, fold=False)


def _base_words(name: str | None, *, fold: bool) -> list[str]:
    if not name or not name.strip():
        return []
    if not any(unicodedata.category(c)[0] in "LN" for c in name):
        return []
    words = _words(name, fold=fold)
    kept = list(words)
    words = [w for w in _strip_unspaced(words) if w]
    words = _strip_forms(words, fold=fold)
    if len(words) > 1 and words[0] in _ARTICLES:
        words = words[1:]
    # "and" between two words goes ("Smith & Jones"); at either end it is part of the name
    words = [w for i, w in enumerate(words) if w not in _AND or i in (0, len(words) - 1)]
    return words or kept


def distinctive_words(key: str) -> list[str]:
    """The words of a name key worth indexing alone: three letters or more."""
    return [w for w in key.split() if len(w) >= 3]
