"""Password rules (the seed's four, in the seed's words) and argon2id hashing.

The rules follow Django's validators, which the original GSP Live web app used:
similarity to the user's own attributes (``difflib`` quick ratio >= 0.7 against the
username, names and email and their parts), a minimum length, a list of 20,000 common
passwords (Django's list, shipped in ``hub/data``) and "not entirely numeric".
The messages are the seed manual's, word for word.

Hashing is argon2id (argon2-cffi). One hash or verify costs about a quarter of a second
on purpose, so the ``a*`` coroutines run it in a thread pool: the hub's event loop keeps
serving other requests meanwhile.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import re
from collections.abc import Iterable
from concurrent.futures import Executor
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

#: The list of common passwords (Django's, BSD-3; see hub/data/README.md).
COMMON_PASSWORDS_PATH = Path(__file__).with_name("data") / "common-passwords.txt.gz"

# The seed manual's messages ("Getting access"), in the seed's order.
TOO_SIMILAR = "Your password can't be too similar to your other personal information."
TOO_SHORT = "Your password must contain at least {min_length} characters."
TOO_COMMON = "Your password can't be a commonly used password."
ENTIRELY_NUMERIC = "Your password can't be entirely numeric."
MISMATCH = "The two password fields didn't match."

#: User attributes a password must not resemble (Django's default set).
PERSONAL_ATTRIBUTES = ("username", "first_name", "last_name", "email")


class PasswordRejected(ValueError):
    """A password breaks one or more rules.

    Attributes
    ----------
    problems : list of str
        One message per broken rule, in the seed's order.
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__(" ".join(problems))
        self.problems = problems


@functools.lru_cache(maxsize=4)
def load_common_passwords(path: str | Path = COMMON_PASSWORDS_PATH) -> frozenset[str]:
    """Read a list of common passwords, one a line, gzipped or plain; lower-cased.

    Parameters
    ----------
    path : str or Path
        A ``.gz`` file or a plain text file.

    Returns
    -------
    frozenset of str
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return frozenset(line.strip().lower() for line in fh if line.strip())


def _exceeds_length_ratio(password: str, max_similarity: float, value: str) -> bool:
    # Django's shortcut: when the password is 10x longer than the value, the quick
    # ratio cannot reach the threshold, so the (quadratic) matcher is skipped.
    pwd_len = len(password)
    return pwd_len >= 10 * len(value) and len(value) < max_similarity / 2 * pwd_len


def _attribute(user: Any, name: str) -> Any:
    if isinstance(user, dict):
        return user.get(name)
    return getattr(user, name, None)


def is_too_similar(password: str, user: Any, max_similarity: float = 0.7) -> bool:
    """Whether the password resembles one of the user's personal attributes.

    Parameters
    ----------
    password : str
    user : object or dict
        Anything with ``username``, ``first_name``, ``last_name``, ``email`` attributes
        (or keys); missing or empty ones are skipped.
    max_similarity : float
        Threshold of :meth:`difflib.SequenceMatcher.quick_ratio`, as Django (0.7).

    Returns
    -------
    bool
    """
    if user is None:
        return False
    password = password.lower()
    for name in PERSONAL_ATTRIBUTES:
        value = _attribute(user, name)
        if not value or not isinstance(value, str):
            continue
        value = value.lower()
        # "ana.perez@noirlab.edu" is checked whole and as ana, perez, noirlab, edu.
        for part in [*re.split(r"\W+", value), value]:
            if not part or _exceeds_length_ratio(password, max_similarity, part):
                continue
            if SequenceMatcher(a=password, b=part).quick_ratio() >= max_similarity:
                return True
    return False


class PasswordPolicy:
    """The seed's password rules.

    Parameters
    ----------
    min_length : int
        Minimum number of characters (the seed's 8).
    max_similarity : float
        Similarity threshold to the user's attributes (Django's 0.7; at least 0.1).
    common_passwords : iterable of str or path, optional
        The forbidden list; by default the 20,000 passwords in ``hub/data``.
    """

    def __init__(
        self,
        min_length: int = 8,
        max_similarity: float = 0.7,
        common_passwords: Iterable[str] | str | Path | None = None,
    ) -> None:
        if min_length < 1:
            raise ValueError(f"min_length must be at least 1, got {min_length}")
        if not 0.1 <= max_similarity <= 1.0:
            raise ValueError(f"max_similarity must be between 0.1 and 1.0, got {max_similarity}")
        self.min_length = min_length
        self.max_similarity = max_similarity
        if common_passwords is None or isinstance(common_passwords, str | Path):
            self._common = load_common_passwords(common_passwords or COMMON_PASSWORDS_PATH)
        else:
            self._common = frozenset(p.strip().lower() for p in common_passwords)

    @property
    def requirements(self) -> list[str]:
        """The rules as shown on the password pages, in the seed's order."""
        return [
            "Can't be similar to your other personal information",
            f"Must contain at least {self.min_length} characters",
            "Can't be a commonly used password",
            "Can't be entirely numeric",
        ]

    def problems(self, password: str, user: Any = None) -> list[str]:
        """Every rule the password breaks, as the seed's messages.

        Parameters
        ----------
        password : str
        user : object or dict, optional
            The account the password is for (see :func:`is_too_similar`).

        Returns
        -------
        list of str
            Empty when the password is acceptable.
        """
        if not isinstance(password, str):
            raise TypeError(f"password must be a str, got {type(password).__name__}")
        found = []
        if is_too_similar(password, user, self.max_similarity):
            found.append(TOO_SIMILAR)
        if len(password) < self.min_length:
            found.append(TOO_SHORT.format(min_length=self.min_length))
        if password.lower().strip() in self._common:
            found.append(TOO_COMMON)
        if password.isdigit():
            found.append(ENTIRELY_NUMERIC)
        return found

    def check(self, password: str, user: Any = None) -> None:
        """Raise :class:`PasswordRejected` when the password breaks a rule."""
        found = self.problems(password, user)
        if found:
            raise PasswordRejected(found)


class PasswordHasher:
    """argon2id hashes; verification that never raises for a wrong or broken hash.

    Parameters
    ----------
    time_cost, memory_cost, parallelism : int, optional
        argon2 parameters; the defaults are argon2-cffi's (RFC 9106 "low memory":
        t=3, m=64 MiB, p=4). Tests may lower them.
    executor : concurrent.futures.Executor, optional
        Where the ``a*`` coroutines run; the event loop's default pool when ``None``.
    """

    def __init__(
        self,
        time_cost: int | None = None,
        memory_cost: int | None = None,
        parallelism: int | None = None,
        executor: Executor | None = None,
    ) -> None:
        params = {
            k: v
            for k, v in dict(
                time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism
            ).items()
            if v is not None
        }
        self._argon2 = argon2.PasswordHasher(type=argon2.Type.ID, **params)
        self._executor = executor

    def hash(self, password: str) -> str:
        """The argon2id hash string (``$argon2id$v=19$m=...``) of a password."""
        return self._argon2.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches ``password_hash``.

        A missing or malformed hash gives ``False`` after the same amount of work as a
        real verification, so the time taken does not tell whether the account exists
        or has a password.
        """
        if not password_hash:
            password_hash = self.dummy_hash
            real = False
        else:
            real = True
        try:
            return self._argon2.verify(password_hash, password) and real
        except VerifyMismatchError:
            return False
        except (InvalidHashError, VerificationError):
            # A hash that is not argon2 (corrupt row): do the work anyway, refuse.
            try:
                self._argon2.verify(self.dummy_hash, password)
            except VerificationError:
                pass
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the hash was made with other parameters than the current ones."""
        try:
            return self._argon2.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    @functools.cached_property
    def dummy_hash(self) -> str:
        """A hash of a random password, verified for unknown users to equalise timing."""
        import secrets

        return self._argon2.hash(secrets.token_urlsafe(16))

    async def ahash(self, password: str) -> str:
        """:meth:`hash` in the thread pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.hash, password)

    async def averify(self, password_hash: str | None, password: str) -> bool:
        """:meth:`verify` in the thread pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.verify, password_hash, password)
