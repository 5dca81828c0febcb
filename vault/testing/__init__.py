"""Test support for storage backends: the storage contract as a pytest suite.

``StorageContract`` needs pytest and pytest-asyncio (``pip install 'session-vault[testing]'``);
``import vault`` never imports this package.
"""

from __future__ import annotations

import pytest

# The contract lives outside the test author's own modules: have pytest rewrite its asserts so a
# failure shows the values compared.
pytest.register_assert_rewrite("vault.testing.contract")

from .contract import StorageContract  # noqa: E402
from .session import log_in  # noqa: E402

__all__ = ["StorageContract", "log_in"]
