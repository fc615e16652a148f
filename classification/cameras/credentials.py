"""Camera credentials: kept out of URLs, put back only to connect, masked everywhere else.

Credentials typed into a URL (``rtsp://user:secret@host/...``) are moved to the
camera's own fields when it is saved, so the stored URL can be shown and
logged as it is. The only place the two meet again is :func:`connect_url`, and
anything a library says about that URL (FFmpeg names it in its errors) goes
through :func:`scrub` before anyone sees it.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit, urlunsplit

MASK = "****"


def split_credentials(url: str) -> tuple[str, str, str]:
    """``(url without credentials, username, password)``; a URL without them comes back unchanged."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if not parts.netloc or "@" not in parts.netloc:
        return url, "", ""
    userinfo, _, host = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=host)), unquote(username), unquote(password)


def connect_url(url: str, username: str, password: str) -> str:
    """The URL a reader opens: credentials percent-encoded into it (FFmpeg reads them there)."""
    if not username and not password:
        return url
    parts = urlsplit(url)
    userinfo = quote(username, safe="") + (":" + quote(password, safe="") if password else "")
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))


def masked_password(password: str) -> str:
    return MASK if password else ""


_USERINFO_PASSWORD = re.compile(r"(://[^/\s:@]*:)[^@\s/]*@")


def scrub(text: str, password: str = "") -> str:
    """``text`` with the password (raw and percent-encoded) masked, and any URL's userinfo password too."""
    text = _USERINFO_PASSWORD.sub(rf"\1{MASK}@", str(text))
    for secret in {password, quote(password, safe="")} if password else ():
        text = text.replace(secret, MASK)
    return text
