"""Web domains as typed in CRM website fields and as found in contacts' email addresses."""

from __future__ import annotations

import pytest

from pshub.sync.identity import email_domain, normalise_domain, website_domain


@pytest.mark.parametrize(
    "typed",
    [
        "acme.com",
        "ACME.COM",
        "www.acme.com",
        "https://www.acme.com/",
        "http://acme.com/contact-us?ref=crm#top",
        "acme.com.",
        "  https://Acme.Com:443/ ",
        "ＡＣＭＥ．ｃｏｍ",  # full-width, as typed on a Japanese keyboard
    ],
)
def test_every_typed_form_of_a_website_is_one_domain(typed: str) -> None:
    assert normalise_domain(typed) == "acme.com"


def test_internationalised_domains_are_compared_in_punycode() -> None:
    # RFC 3492 / IDNA 2008: müller.de is xn--mller-kva.de, whichever way it was typed
    assert normalise_domain("www.müller.de") == "xn--mller-kva.de"
    assert normalise_domain("XN--MLLER-KVA.DE") == "xn--mller-kva.de"
    assert normalise_domain("MÜLLER.DE") == "xn--mller-kva.de"


@pytest.mark.parametrize("typed", [None, "", "n/a", "none", "localhost", "http://", "not a website"])
def test_no_host_is_no_domain(typed: str | None) -> None:
    assert normalise_domain(typed) is None


@pytest.mark.parametrize(
    "page", ["linkedin.com/company/acme", "https://www.facebook.com/acme", "acme.wixsite.com"]
)
def test_a_page_on_someone_elses_platform_is_no_evidence(page: str) -> None:
    assert website_domain(page) is None


@pytest.mark.parametrize(
    ("email", "domain"),
    [
        ("jo@acme.co.uk", "acme.co.uk"),
        ("Jo.Bloggs@ACME.com", "acme.com"),
        ("jo@gmail.com", None),
        ("jo@yahoo.co.uk", None),
        ("jo@hotmail.fr", None),
        ("jo@gmx.de", None),
        ("jo@qq.com", None),
        ("not-an-email", None),
        ("jo@müller.de", "xn--mller-kva.de"),
    ],
)
def test_email_domains_are_evidence_except_free_mail(email: str, domain: str | None) -> None:
    assert email_domain(email) == domain
