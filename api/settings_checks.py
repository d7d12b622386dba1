"""Checks and normal forms of the API's setting values (origins, host names, tokens):
pure functions, used by `api.settings` and by the `Host` check (`api.host_guard`).

Each raises ValueError with a message that says what is wrong without quoting
the value (a token is a secret), so `load_settings` can print it as one line
naming the setting.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
MIN_EXPOSED_TOKEN_LENGTH = 16


def origin(value: str) -> str:
    """A browser origin as browsers send it: `scheme://host[:port]`, lowercase, no default
    port, no trailing slash; `*` stays `*`."""
    text = value.strip()
    if text == "*":
        return text
    if "://" not in text:
        raise ValueError("each origin needs a scheme, e.g. http://localhost:4200")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError("an origin has a port that is not a number 0-65535") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError("each origin must start with http:// or https://")
    if not parts.hostname:
        raise ValueError("an origin has no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(
            "an origin is scheme://host[:port] only, without a path (e.g. http://localhost:4200)"
        )
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    return f"{scheme}://{host}"


def origin_host(normalised: str) -> str | None:
    """The host name of a normalised origin (None for `*`)."""
    if normalised == "*":
        return None
    return urlsplit(normalised).hostname


def host_pattern(value: str) -> str:
    """An ALLOWED_HOSTS entry: a host name or address, `*.domain`, or `*`; lowercase,
    without a port (ports are not compared)."""
    text = value.strip().lower().rstrip(".")
    if text == "*":
        return text
    if "://" in text or "/" in text:
        raise ValueError("list host names (e.g. wallboard.example.com), not URLs")
    wildcard = text.startswith("*.")
    name = text[2:] if wildcard else text
    host = split_host(name)
    if host is None or "*" in host:
        raise ValueError("an entry is not a host name, an address, *.domain or *")
    return f"*.{host}" if wildcard else host


def split_host(value: str) -> str | None:
    """The host of a `Host` header value (`name[:port]`, `[v6]:port`), lowercase and
    without a trailing dot; None when it is not one."""
    text = value.strip().lower()
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or (text[end + 1 :] and not _is_port(text[end + 1 :])):
            return None
        try:
            return str(ipaddress.IPv6Address(text[1:end]))
        except ValueError:
            return None
    name, sep, port = text.partition(":")
    if sep and not _is_port(":" + port):
        return None
    name = name.rstrip(".")
    if not name or not all(ch.isalnum() or ch in "-._" for ch in name) or not name.isascii():
        return None
    return name


def _is_port(text: str) -> bool:
    return text.startswith(":") and text[1:].isdigit() and int(text[1:]) <= 65535


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposed_token(secret: str, what: str) -> None:
    """A token that may guard a service listening beyond loopback."""
    if len(secret) < MIN_EXPOSED_TOKEN_LENGTH or "change-me" in secret.lower():
        raise ValueError(
            f"{what} is shorter than {MIN_EXPOSED_TOKEN_LENGTH} characters or a placeholder "
            "(change-me): not allowed when HOST is not a loopback address"
        )
