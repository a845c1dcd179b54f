"""Tax and company registration ids, validated and scoped to their country.

A typed-in id is a strong identity fact only once it is known to be one: ``python-stdnum``
(LGPL, pure Python, the field's reference for ~250 schemes) validates the format and the
check digits of VAT numbers in every EU state and the UK (``XI`` and ``EL`` prefixes
included), EIN, ABN/ACN, BN and GST/HST, SIREN/SIRET/TVA, UID, GSTIN/PAN, UEN, IRD,
corporate numbers and more. Company registers stdnum does not cover (Companies House,
KvK) are checked for their format.

Every id is scoped to a country: the VAT prefix's, or the record's for a bare number. A
number with neither is no strong id, because the same digits in two countries are two
companies. Placeholders ("N/A", "none", "pending", all zeros ...) are no id at all.

An id that embeds another yields both (a French TVA number its SIREN, a SIRET its SIREN,
an ABN its ACN, a GST/HST account its nine-digit BN, a GSTIN its PAN, a Swiss VAT number
its UID), so records typed with different ids of one company still meet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import ModuleType

from stdnum.exceptions import ValidationError
from stdnum.util import get_cc_module

_PLACEHOLDERS = frozenset(
    [
        "na",
        "nan",
        "none",
        "null",
        "nil",
        "nul",
        "pending",
        "tbd",
        "tba",
        "tbc",
        "unknown",
        "notapplicable",
        "notavailable",
        "notknown",
        "applied",
        "appliedfor",
        "applying",
        "inprogress",
        "exempt",
        "notregistered",
        "unregistered",
        "noneyet",
        "missing",
        "xxx",
        "xxxx",
        "test",
        "dummy",
        "sameasabove",
        "see",
        "seenotes",
        "other",
        "nvt",
        "nd",
        "sn",
        "ninguno",
        "aucun",
        "keine",
    ]
)
_COMPACT = re.compile(r"[\s\-./_:,()]")
# VAT prefixes that are not the ISO country code.
_VAT_PREFIX_COUNTRY = {"EL": "GR", "XI": "GB"}
# Countries whose VAT numbers are typed with a prefix (the EU's and the UK's).
_VAT_COUNTRIES = frozenset(
    [
        "at",
        "be",
        "bg",
        "cy",
        "cz",
        "de",
        "dk",
        "ee",
        "es",
        "fi",
        "fr",
        "gb",
        "gr",
        "hr",
        "hu",
        "ie",
        "it",
        "lt",
        "lu",
        "lv",
        "mt",
        "nl",
        "pl",
        "pt",
        "ro",
        "se",
        "si",
        "sk",
    ]
)
# Bare numbers: the schemes tried for a record's country, most specific first (module names
# as stdnum's ``get_cc_module`` knows them; ``vat`` is the country's VAT or tax number).
_SCHEMES: dict[str, tuple[str, ...]] = {
    "us": ("ein",),
    "au": ("abn", "acn"),
    "ca": ("bn",),
    "fr": ("siret", "siren", "vat"),
    "ch": ("uid", "vat"),
    "at": ("vat", "businessid"),
    "de": ("vat",),
    "in": ("gstin", "pan"),
    "sg": ("uen",),
    "nz": ("ird",),
    "jp": ("cn",),
    "se": ("orgnr", "vat"),
    "no": ("orgnr", "mva"),
    "dk": ("cvr",),
    "fi": ("ytunnus",),
    "pl": ("nip", "regon"),
    "es": ("cif", "nif"),
    "br": ("cnpj",),
    "mx": ("rfc",),
}
# Registers stdnum has no module for: format only (no check digits to test).
_FORMATS: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = {
    # Companies House: eight digits, or a two-letter register prefix and six digits.
    "gb": (
        (
            "crn",
            re.compile(
                r"^(?:\d{8}|(?:SC|NI|OC|SO|NC|R0|LP|SL|NL|FC|SF|NF|GE|IP|SP|RC|SR|NR|AC|ZC|IC|SI|NO|RS|CE|CS)\d{6})$"
            ),
        ),
    ),
    # KvK: eight digits.
    "nl": (("kvk", re.compile(r"^\d{8}$")),),
    # Irish CRO: up to six digits.
    "ie": (("cro", re.compile(r"^\d{5,6}$")),),
}


@dataclass(frozen=True, order=True)
class StrongId:
    """A validated id: its scheme (``vat``, ``ein``, ``siren`` ...), country and compact value."""

    scheme: str
    country: str
    value: str

    @property
    def key(self) -> str:
        return f"{self.scheme}:{self.country}:{self.value}"

    @classmethod
    def from_key(cls, key: str) -> StrongId:
        scheme, country, value = key.split(":", 2)
        return cls(scheme, country, value)

    def describe(self) -> str:
        """For a person reading evidence: the scheme, country and the id's last four characters."""
        return f"{self.scheme.upper()} ({self.country}) ending {self.value[-4:]}"


def compact_id(value: str | None) -> str | None:
    """An id as typed, without spaces and punctuation, upper-case; ``None`` for a placeholder."""
    if not value:
        return None
    compact = _COMPACT.sub("", value).upper()
    if not compact or is_placeholder(value):
        return None
    return compact


def is_placeholder(value: str) -> bool:
    compact = _COMPACT.sub("", value).replace("/", "").lower()
    if not compact or compact in _PLACEHOLDERS:
        return True
    digits = re.sub(r"[^0-9a-z]", "", compact)
    if not digits or len(set(digits)) == 1:  # 000000000, 999999, xxxxxx
        return True
    return digits in ("123456789", "1234567890", "0123456789", "12345678", "123456")


def _module(country: str, scheme: str) -> ModuleType | None:
    try:
        module: ModuleType | None = get_cc_module(country, scheme)  # type: ignore[assignment]
    except ImportError:
        return None
    return module


def _scheme_name(module: ModuleType) -> str:
    name = module.__name__.rsplit(".", 1)[-1]
    return {"tva": "vat", "btw": "vat", "mva": "vat", "iva": "vat", "mwst": "vat"}.get(name, name)


def _valid(module: ModuleType, value: str) -> str | None:
    try:
        return str(module.validate(value))
    except (ValidationError, ValueError):
        return None


def _derived(scheme: str, country: str, value: str) -> list[StrongId]:
    """The ids embedded in this one (a TVA number's SIREN, a SIRET's SIREN ...)."""
    out: list[StrongId] = []
    if country == "FR" and scheme == "vat" and len(value) == 11:
        out.append(StrongId("siren", "FR", value[2:]))
    elif country == "FR" and scheme == "siret":
        out.append(StrongId("siren", "FR", value[:9]))
    elif country == "AU" and scheme == "abn":
        acn = _module("au", "acn")
        if acn is not None and _valid(acn, value[2:]):
            out.append(StrongId("acn", "AU", value[2:]))
    elif country == "IN" and scheme == "gstin":
        out.append(StrongId("pan", "IN", value[2:12]))
    elif country == "CH" and scheme == "vat":
        out.append(StrongId("uid", "CH", value[:12]))
    return out


def _strong(scheme: str, country: str, value: str) -> list[StrongId]:
    if country == "CA" and scheme == "bn":
        value = value[:9]  # a GST/HST or payroll account is the nine-digit BN plus its program
    if scheme == "vat" and value[:2].isalpha() and country not in ("CH",):
        value = value[2:]  # the prefix is the scope
    if country == "CH" and scheme == "vat":
        value = re.sub(r"(MWST|TVA|IVA)$", "", value)
    found = StrongId(scheme, country, value)
    return [found, *_derived(scheme, country, value)]


def _prefixed_vat(compact: str) -> list[StrongId] | None:
    """A VAT number typed with its country prefix; ``None`` if it has no VAT prefix."""
    if compact.startswith("CHE"):
        for name in ("vat", "uid"):
            module = _module("ch", name)
            valid = _valid(module, compact) if module else None
            if valid is not None:
                return _strong(name, "CH", valid) if name == "vat" else [StrongId("uid", "CH", valid[:12])]
        return []
    prefix = compact[:2]
    country = _VAT_PREFIX_COUNTRY.get(prefix, prefix)
    if not prefix.isalpha() or country.lower() not in _VAT_COUNTRIES:
        return None
    module = _module("gb", "vat") if country == "GB" else _module("eu", "vat")
    valid = _valid(module, compact) if module else None
    return _strong("vat", country, valid) if valid is not None else []


def strong_ids(value: str | None, country: str | None) -> tuple[StrongId, ...]:
    """Every strong id ``value`` is, scoped to its country; empty if it is no valid id."""
    compact = compact_id(value)
    if not compact:
        return ()
    prefixed = _prefixed_vat(compact)
    if prefixed is not None:
        return tuple(prefixed)
    if not country or len(country) != 2:
        return ()  # a bare number with no country to scope it is no strong id
    return tuple(_bare(compact, country.lower()))


def _bare(compact: str, cc: str) -> list[StrongId]:
    # The country's own schemes first, then its registers by format, then a bare VAT number.
    for name in (*_SCHEMES.get(cc, ()), "vat"):
        module = _module(cc, name)
        valid = _valid(module, compact) if module else None
        if module is not None and valid is not None:
            return _strong(_scheme_name(module), cc.upper(), valid)
        if name == "vat":
            break
    for name, pattern in _FORMATS.get(cc, ()):
        if pattern.match(compact):
            return [StrongId(name, cc.upper(), compact)]
    return []
