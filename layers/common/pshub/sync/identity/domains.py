"""Web domains as identity evidence: the site as typed, or the domain of a contact's email.

A website field holds what people type: ``https://WWW.Acme.com/contact``, ``acme.com.``,
``www.müller.de``. ``normalise_domain`` reduces it to the host, lower-cased, with ``www.``
and trailing dots stripped and an internationalised name in its punycode (IDNA 2008 with
UTS #46 mapping, the ``idna`` package), so every spelling of one site is one key.

An email's domain is evidence of the client's website, except where anyone can have an
address (free-mail providers) or the "website" is a page on someone else's platform
(social networks, site builders): those are no evidence at all.
"""

from __future__ import annotations

import re
import unicodedata

import idna

_FREE_MAIL = frozenset(
    [
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "ymail.com",
        "rocketmail.com",
        "hotmail.com",
        "outlook.com",
        "live.com",
        "msn.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "proton.me",
        "protonmail.com",
        "pm.me",
        "zoho.com",
        "zohomail.com",
        "fastmail.com",
        "hey.com",
        "mail.com",
        "gmx.com",
        "gmx.net",
        "gmx.de",
        "gmx.at",
        "gmx.ch",
        "web.de",
        "t-online.de",
        "freenet.de",
        "posteo.de",
        "mailbox.org",
        "orange.fr",
        "wanadoo.fr",
        "free.fr",
        "laposte.net",
        "sfr.fr",
        "libero.it",
        "virgilio.it",
        "tiscali.it",
        "alice.it",
        "btinternet.com",
        "sky.com",
        "virginmedia.com",
        "talktalk.net",
        "blueyonder.co.uk",
        "ntlworld.com",
        "comcast.net",
        "verizon.net",
        "att.net",
        "sbcglobal.net",
        "bellsouth.net",
        "cox.net",
        "charter.net",
        "earthlink.net",
        "shaw.ca",
        "rogers.com",
        "sympatico.ca",
        "telus.net",
        "videotron.ca",
        "bigpond.com",
        "bigpond.net.au",
        "optusnet.com.au",
        "iinet.net.au",
        "xtra.co.nz",
        "mail.ru",
        "yandex.ru",
        "yandex.com",
        "rambler.ru",
        "qq.com",
        "163.com",
        "126.com",
        "sina.com",
        "sohu.com",
        "naver.com",
        "daum.net",
        "hanmail.net",
        "rediffmail.com",
        "seznam.cz",
        "wp.pl",
        "o2.pl",
        "interia.pl",
        "onet.pl",
        "tutanota.com",
        "tuta.io",
        "hushmail.com",
        "inbox.com",
        "terra.com.br",
        "uol.com.br",
        "bol.com.br",
        "telenet.be",
        "skynet.be",
        "ziggo.nl",
        "kpnmail.nl",
        "hetnet.nl",
        "planet.nl",
        "home.nl",
        "bluewin.ch",
        "hispeed.ch",
        "sunrise.ch",
        "chello.at",
        "aon.at",
    ]
)
# Providers with a free-mail domain in many country zones (yahoo.co.uk, hotmail.fr, live.nl ...).
_FREE_MAIL_BRANDS = frozenset(["yahoo", "hotmail", "outlook", "live", "msn", "aol", "gmx", "yandex"])
_NOT_A_COMPANY_SITE = frozenset(
    [
        "linkedin.com",
        "facebook.com",
        "fb.com",
        "instagram.com",
        "twitter.com",
        "x.com",
        "youtube.com",
        "github.com",
        "medium.com",
        "wixsite.com",
        "wix.com",
        "squarespace.com",
        "wordpress.com",
        "blogspot.com",
        "sites.google.com",
        "google.com",
        "goo.gl",
        "bit.ly",
        "linktr.ee",
        "localhost",
    ]
)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def _free_mail(domain: str) -> bool:
    if domain in _FREE_MAIL:
        return True
    labels = domain.split(".")
    return len(labels) >= 2 and labels[0] in _FREE_MAIL_BRANDS


def _not_company_site(domain: str) -> bool:
    return any(domain == d or domain.endswith("." + d) for d in _NOT_A_COMPANY_SITE)


def normalise_domain(value: str | None) -> str | None:
    """The host of a typed-in website, normalised; ``None`` if it is no host at all."""
    if not value or not value.strip():
        return None
    # Full-width and ideographic dots are label separators too (UTS #46).
    text = unicodedata.normalize("NFKC", value.strip()).replace("\u3002", ".")
    text = _SCHEME.sub("", text)
    host = re.split(r"[/?#\s]", text, maxsplit=1)[0]
    host = host.rsplit("@", 1)[-1]  # user:password@host
    host = host.split(":", 1)[0] if host.count(":") == 1 else host  # a port, not IPv6
    host = host.strip().strip(".").lower()
    if host.startswith("www."):
        host = host[4:]
    if "." not in host:
        return None
    try:
        ascii_host = idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError:
        return None
    return ascii_host.removeprefix("www.")


def website_domain(value: str | None) -> str | None:
    """A website field's domain, if it is evidence of the company (not a social page)."""
    domain = normalise_domain(value)
    return domain if domain and not _not_company_site(domain) and not _free_mail(domain) else None


def email_domain(email: str | None) -> str | None:
    """An email address's domain, if it is evidence of the company's website (never free-mail)."""
    if not email or "@" not in email:
        return None
    domain = normalise_domain(email.strip().rsplit("@", 1)[1])
    if not domain or _free_mail(domain) or _not_company_site(domain):
        return None
    return domain
