"""E-mail addresses: the one rule every account, invitation and notification uses.

The address is checked by ``email-validator`` (RFC 5322/6531 syntax, domain rules,
no DNS look-up: the observatory network may have none), limited to ASCII so every SMTP
server and the hub's user names can take it, and kept lower-case (addresses are
compared without regard to case).
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

#: What the OpenAPI document says of an address: a necessary condition only (the full
#: rule is email-validator's, which no regular expression states).
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

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
    try:
        checked = validate_email(candidate, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValueError(
            f"{candidate!r} is not an e-mail address ({exc}); give one like name@example.org"
        ) from None
    return checked.normalized.lower()
