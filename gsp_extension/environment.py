"""The ``GSP_*`` environment, read in this one module.

Every switch of GSP Live is a trait of the configurable that owns it (the gsp service's
:class:`gsp_extension.app.GSPExtensionApp`, :class:`gsp_extension.accounts.mail.Mailer`,
the hub's :class:`hub.authenticator.ProposalAuthenticator`...). The environment only
supplies the *defaults* of those traits, through the functions here, so that one set of
variables configures the hub, the gsp service and the ``gsp`` commands alike. Nothing
else in the project reads ``os.environ`` for a ``GSP_*`` switch.

Each function takes ``environ`` (default :data:`os.environ`, read at call time) so that
callers and tests can pass a mapping of their own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

#: The proxy's address when ``GSP_HUB_BIND_URL`` is unset (the hub's own default port).
DEFAULT_BIND_URL = "http://127.0.0.1:8000"


class EnvironmentValueError(ValueError):
    """A variable has a value that cannot work; the message names it and says what would."""


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def text(name: str, default: str = "", environ: Mapping[str, str] | None = None) -> str:
    """``environ[name]`` stripped, or ``default`` when unset or blank."""
    return _env(environ).get(name, "").strip() or default


def verbatim(name: str, environ: Mapping[str, str] | None = None) -> str:
    """``environ[name]`` exactly as given ("" when unset): for secrets such as passwords,
    where spaces count."""
    return _env(environ).get(name, "")


def whole_number(
    name: str, default: int, environ: Mapping[str, str] | None = None, *, unit: str = ""
) -> int:
    """A whole number >= 0 from ``environ[name]`` (``default`` when unset).

    Raises
    ------
    EnvironmentValueError
        When the value is not a whole number >= 0 (the message names ``unit``).
    """
    raw = text(name, environ=environ)
    if not raw:
        return int(default)
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        what = f"a whole number of {unit}" if unit else "a whole number"
        raise EnvironmentValueError(f"{name}={raw!r}: give {what} >= 0")
    return value


def seconds(name: str, default: int, environ: Mapping[str, str] | None = None) -> int:
    """A whole number of seconds >= 0 from ``environ[name]`` (see :func:`whole_number`)."""
    return whole_number(name, default, environ, unit="seconds")


def number(name: str, default: float, environ: Mapping[str, str] | None = None) -> float:
    """A number >= 0 from ``environ[name]`` (``default`` when unset).

    Raises
    ------
    EnvironmentValueError
        When the value is not a number >= 0.
    """
    raw = text(name, environ=environ)
    if not raw:
        return float(default)
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise EnvironmentValueError(f"{name}={raw!r}: give a number >= 0")
    return value


def flag(name: str, default: bool = False, environ: Mapping[str, str] | None = None) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off`` (any case) from ``environ[name]``.

    Raises
    ------
    EnvironmentValueError
        For any other value.
    """
    raw = text(name, environ=environ).lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise EnvironmentValueError(f"{name}={raw!r}: give 1/true/yes/on or 0/false/no/off")


def with_prefix(
    prefixes: tuple[str, ...], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Every variable whose name starts with one of ``prefixes`` (to pass on to a child)."""
    return {k: v for k, v in _env(environ).items() if k.startswith(prefixes)}


def data_root(environ: Mapping[str, str] | None = None) -> Path:
    """The data root: ``$GSP_DATA_ROOT`` or ``./gsp-data``, absolute."""
    return Path(text("GSP_DATA_ROOT", "gsp-data", environ)).resolve()


def standards_dirs(environ: Mapping[str, str] | None = None) -> list[str]:
    """Folders of more standard-star tables: ``$GSP_STANDARDS_DIRS``.

    Parameters
    ----------
    environ : mapping, optional
        The environment (default :data:`os.environ`).

    Returns
    -------
    list of str
        The folders, separated by :data:`os.pathsep` in the variable (``:`` on Linux);
        empty when unset (the bundled library alone).
    """
    raw = text("GSP_STANDARDS_DIRS", environ=environ)
    return [part.strip() for part in raw.split(os.pathsep) if part.strip()]


def database_url(environ: Mapping[str, str] | None = None, root: str | Path | None = None) -> str:
    """The app database: ``$GSP_DATABASE_URL``, else ``gsp.sqlite`` in the data root.

    Parameters
    ----------
    environ : mapping, optional
    root : path, optional
        The data root when the caller has one of its own (a trait, a ``--data-root``
        option); else :func:`data_root`.
    """
    explicit = text("GSP_DATABASE_URL", environ=environ)
    if explicit:
        return explicit
    folder = Path(root).resolve() if root else data_root(environ)
    return f"sqlite:///{folder / 'gsp.sqlite'}"


def public_url(environ: Mapping[str, str] | None = None) -> str:
    """``$GSP_PUBLIC_URL``, the hub's public address as a deployer gives it ("" if unset).

    Raises
    ------
    EnvironmentValueError
        When it is set but not an ``http(s)://`` URL.
    """
    url = text("GSP_PUBLIC_URL", environ=environ)
    if url and not url.startswith(("http://", "https://")):
        raise EnvironmentValueError(
            f"GSP_PUBLIC_URL={url!r}: give a full URL such as https://gsp.example.org/"
        )
    return url


def hub_bind_url(environ: Mapping[str, str] | None = None) -> str:
    """``$GSP_HUB_BIND_URL``: where the proxy listens (default :data:`DEFAULT_BIND_URL`)."""
    return text("GSP_HUB_BIND_URL", DEFAULT_BIND_URL, environ)


def link_secret_file(environ: Mapping[str, str] | None = None) -> Path:
    """``$GSP_LINK_SECRET_FILE``, else ``secrets/link-secret`` in the data root."""
    explicit = text("GSP_LINK_SECRET_FILE", environ=environ)
    return Path(explicit) if explicit else data_root(environ) / "secrets" / "link-secret"


def link_secret(environ: Mapping[str, str] | None = None) -> str:
    """``$GSP_LINK_SECRET``: the link secret itself, for processes in separate pods."""
    return text("GSP_LINK_SECRET", environ=environ)


def outbox_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Folder of the embedded email outbox: ``outbox/`` in the data root."""
    return data_root(environ) / "outbox"
