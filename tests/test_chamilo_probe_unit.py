"""How the probes name what a user saw on an error page, without a Chamilo (the chaos suite runs them for real)."""

from __future__ import annotations

from chaos.workloads import page_gist


def test_error_pages_are_named_by_their_cause() -> None:
    doctrine = b"<html><title>Oops</title><body><p>SQLSTATE[HY000] [2002]\n Connection refused</p></body></html>"
    assert page_gist(doctrine) == ": SQLSTATE[HY000] [2002] Connection refused"
    fatal = b"<b>Fatal error</b>: Uncaught Exception: boom in /var/www/x.php:3"
    assert page_gist(fatal) == ": Fatal error : Uncaught Exception: boom in /var/www/x.php:3"
    assert len(page_gist(b"SQLSTATE[40001]: " + b"x" * 500)) < 130


def test_a_page_is_named_by_its_title_otherwise() -> None:
    """Chamilo's answer while no database node can be reached: HTTP 200, this title, and CSS."""
    page = b"<html><head><title>\n Database is unavailable\n</title><style>h1{x:1}</style></head><body></body></html>"
    assert page_gist(page) == ": Database is unavailable"
    assert page_gist(b"<html>Service Unavailable</html>") == ""
