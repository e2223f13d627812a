"""The one error type and the one warning type that sound2img raises for people to read."""

from __future__ import annotations

import warnings


class Sound2ImgError(Exception):
    """A problem with the input or the settings that the user can fix; the message says how."""


class Sound2ImgWarning(UserWarning):
    """Something the user should know about a run that still went ahead (trimmed audio, truncated caption)."""


def notify(notes: list[str], message: str) -> None:
    """Record a note for the result object and emit it as a warning, so both the CLI and the app show it."""
    notes.append(message)
    warnings.warn(message, Sound2ImgWarning, stacklevel=3)
