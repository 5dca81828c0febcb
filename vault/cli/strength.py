"""How guessable a new passphrase is, judged by zxcvbn (Dropbox's estimator: dictionaries,
common passwords, keyboard patterns, dates, sequences), not by a length rule.

Only zxcvbn's fixed advice text is shown, never any part of the passphrase.
"""

from __future__ import annotations

from typing import Any

from zxcvbn import zxcvbn  # type: ignore[import-untyped]

__all__ = ["MIN_SCORE", "passphrase_weakness"]

#: zxcvbn scores run from 0 (guessed at once) to 4; below this a passphrase is weak.
MIN_SCORE = 3
#: zxcvbn refuses longer input; a passphrase this long is judged by its beginning.
_MAX_JUDGED = 72


def passphrase_weakness(passphrase: str) -> str | None:
    """``None`` for a strong passphrase, else why it is weak and how to do better."""
    result: dict[str, Any] = zxcvbn(passphrase[:_MAX_JUDGED])
    if int(result["score"]) >= MIN_SCORE:
        return None
    feedback = result["feedback"]
    advice = [feedback["warning"], *feedback["suggestions"]]
    when = result["crack_times_display"]["offline_slow_hashing_1e4_per_second"]
    parts = [f"it could be guessed in {when} of offline attempts", *filter(None, advice)]
    return "; ".join(p.rstrip(".") for p in parts)
