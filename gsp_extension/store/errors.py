"""Errors raised by the domain layer; the API maps them to HTTP answers.

Every message says what is wrong and what would be right, so the API can pass it on
as ``{"detail": ...}`` unchanged.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class of the domain layer's errors."""


class NotFound(StoreError):
    """The object does not exist (HTTP 404)."""


class AlreadyExists(StoreError):
    """A unique value is taken (HTTP 409)."""


class PermissionDenied(StoreError):
    """The acting user may not do this (HTTP 403)."""


class InvalidValue(StoreError, ValueError):
    """A value is malformed or out of range (HTTP 400)."""


class InvalidState(StoreError):
    """The object is not in a state that allows this (HTTP 409)."""


class DuplicateJob(AlreadyExists):
    """A job for the same product is already queued or running.

    Attributes
    ----------
    job_id : int
        The id of the job that holds the product key.
    """

    def __init__(self, product_key: str, job_id: int) -> None:
        super().__init__(
            f"product {product_key!r} is already being made by job {job_id} "
            "(queued or running); wait for it to finish"
        )
        self.product_key = product_key
        self.job_id = job_id
