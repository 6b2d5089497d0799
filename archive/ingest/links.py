"""Article ids from URLs: the same page gets the same id in every crawl and feed, run after run."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit

TRACKING_PREFIXES = ("utm_", "mc_", "fbclid", "gclid", "ocid", "cmpid")
MAX_ID_CHARACTERS = 160  # longer ids keep a readable head and end in a hash of the whole URL


def canonical_url(url: str) -> str | None:
    """The URL without what does not name the page: scheme and host case, default ports,
    ``www.``, the fragment, tracking parameters and a trailing slash. None if it is not http(s)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower().removeprefix("www.")
    if port and port not in (80, 443):
        host = f"{host}:{port}"
    path = parts.path.rstrip("/") or ""
    query = urlencode(sorted((key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True)
                             if not key.lower().startswith(TRACKING_PREFIXES)))
    return host + path + (f"?{query}" if query else "")


def article_id_from_url(url: str) -> str | None:
    """``example.com/news/2024/story``: readable, stable, and shared by every copy of the page."""
    canonical = canonical_url(url)
    if canonical is None:
        return None
    if len(canonical) <= MAX_ID_CHARACTERS:
        return canonical
    digest = hashlib.sha1(canonical.encode("utf-8")).hexdigest()[:16]
    return f"{canonical[: MAX_ID_CHARACTERS - 17]}~{digest}"


def host_of(url: str) -> str | None:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.lower().removeprefix("www.") if host else None
