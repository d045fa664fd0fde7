"""Who may use the page, and which files it may serve.

Bound to a loopback address the page is open (whoever can reach it is on this machine); bound
to any other address every command, the WebSocket and every file need the token.
"""
from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from pathlib import Path

__all__ = ['AccessError', 'UnsafePath', 'is_loopback', 'resolve_token', 'check_token',
           'safe_path', 'TOKEN_ENV']

#: Environment variable that carries the token to the page's node (not its command line,
#: which every user of the machine can read in ``ps``).
TOKEN_ENV = 'SORTING_CELL_UI_TOKEN'


class AccessError(PermissionError):
    """A request without the right token."""


class UnsafePath(PermissionError):
    """A file request that points outside the folder the page may serve."""


def is_loopback(host: str) -> bool:
    """True for 'localhost' and loopback IP addresses (127.0.0.0/8, ::1)."""
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False   # a host name other than localhost may resolve anywhere


def resolve_token(host: str, token: str | None) -> str | None:
    """The token the page requires: ``token`` if given, else a new random one when ``host``
    is not loopback, else None (open on localhost)."""
    if token:
        if len(token) < 16:
            raise ValueError('the page token must be at least 16 characters')
        return token
    return None if is_loopback(host) else secrets.token_urlsafe(24)


def check_token(given: str | None, expected: str | None) -> None:
    """Raise :class:`AccessError` unless no token is required or ``given`` matches it."""
    if expected is None:
        return
    # constant time: the comparison must not tell an attacker how many characters match
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise AccessError('this page needs its token (printed when the cell started): '
                          'open it as http://HOST:PORT/?token=...')


def safe_path(root: str | os.PathLike, relative: str) -> Path:
    """``root/relative`` as an existing file inside ``root``, or :class:`UnsafePath`.

    Absolute paths, ``..`` and symbolic links that lead outside ``root`` are refused; the
    check is made on the resolved path, so no spelling of the path gets around it.
    """
    base = Path(root).resolve()
    if not relative or '\x00' in relative or Path(relative).is_absolute():
        raise UnsafePath(f'refused path {relative!r}')
    target = (base / relative).resolve()
    if not target.is_relative_to(base) or target == base:
        raise UnsafePath(f'refused path {relative!r}: outside the output folder')
    if not target.is_file():
        raise FileNotFoundError(relative)
    return target
