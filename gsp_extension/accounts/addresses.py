"""E-mail addresses: the one rule every account, invitation and notification uses.

The address is checked by ``email-validator`` (RFC 5322/6531 syntax, domain rules,
no DNS look-up: the observatory network may have none), limited to ASCII so every SMTP
server and the hub's user names can take it, and kept lower-case (addresses are
compared without regard to case).
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" for c in word)


# The rule as a regular expression, for the OpenAPI document (so that generated
# addresses are the ones the server takes): an ASCII dot-atom local part (the rule
# also limits it to 64 characters); a domain of labels (letters, digits, inner
# hyphens) whose last one starts and ends with a letter and is not a special-use name (RFC
# 6761: test, invalid, local...).
_ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_SPECIAL_USE = "|".join(
    _any_case(n) for n in ("arpa", "invalid", "local", "localhost", "onion", "test")
)
_TOP = f"(?!(?:{_SPECIAL_USE})$)[A-Za-z](?:[A-Za-z0-9-]{{0,61}}[A-Za-z])?"

#: What the OpenAPI document says an address is (the server applies email-validator's
#: rule, of which this is the ASCII form).
EMAIL_PATTERN = f"^{_ATEXT}+(?:\\.{_ATEXT}+)*@(?:{_LABEL}\\.)+{_TOP}$"

MAX_LENGTH = 254


def normalize_address(text: str) -> str:
    """The address ``text`` in its stored form (stripped, lower-case).

    Parameters
    ----------
    text : str
        An address such as ``user@server.net``.

    Returns
    -------
    str
        The normalized address.

    Raises
    ------
    ValueError
        Saying what is wrong with it and what an address looks like.
    """
    candidate = text.strip()
    if len(candidate) > MAX_LENGTH:
        raise ValueError(f"an e-mail address has at most {MAX_LENGTH} characters")
    if not candidate.isascii():
        # The hub's user names and every SMTP server take ASCII addresses.
        raise ValueError(
            f"{candidate!r} is not an ASCII e-mail address; give one like name@domain.tld"
        )
    try:
        # strict: RFC 5321's length limits too (64 characters before the @-sign).
        checked = validate_email(
            candidate, check_deliverability=False, allow_smtputf8=False, strict=True
        )
    except EmailNotValidError as exc:
        raise ValueError(
            f"{candidate!r} is not an e-mail address ({exc}); give one like name@domain.tld"
        ) from None
    return checked.normalized.lower()
