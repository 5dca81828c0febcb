"""Keep auth keys out of pymongo's command log.

With DEBUG logging on, pymongo logs every command and reply (up to 1000 characters each) on
the ``pymongo.command`` logger, as extended JSON: reading a plaintext session to migrate it
would print its 256-byte auth key in base64. MongoDB has no way to fetch a field outside that
log, so vault adds a filter to that logger (public :mod:`logging` API) that replaces the value
of every ``auth_key`` field in a record with a placeholder. Other fields are left as they are.
"""

from __future__ import annotations

import logging
import re
from typing import Final

__all__ = ["COMMAND_LOGGER", "install"]

COMMAND_LOGGER: Final = "pymongo.command"
_PLACEHOLDER: Final = "<auth_key redacted by session-vault>"
# The field name, then the punctuation and keys of its extended-JSON binary (relaxed:
# `": {"$binary": {"base64": "`, legacy: `": {"$binary": "`; quotes escaped when the command
# is JSON inside JSON), then its base64 value.
_VALUE: Final = re.compile(
    r'(auth_key(?:[\\"\s:{]|\$binary|base64){1,40}?)(?=[A-Za-z0-9+/]{8})[A-Za-z0-9+/=]+'
)


class _RedactAuthKeys(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "auth_key" in text:
            record.msg, record.args = _VALUE.sub(rf"\g<1>{_PLACEHOLDER}", text), ()
        return True


def install() -> None:
    """Add the filter to pymongo's command logger, once per process."""
    logger = logging.getLogger(COMMAND_LOGGER)
    if not any(isinstance(f, _RedactAuthKeys) for f in logger.filters):
        logger.addFilter(_RedactAuthKeys())
