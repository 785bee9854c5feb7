"""The command line's own error."""

from __future__ import annotations

from bus import UsageError

__all__ = ["CommandError"]


class CommandError(UsageError):
    """A command that cannot run as given (exit status 2).

    For example a missing file, a plan that is not one, or a team factory that does not
    import; the message is the one line ``actorchestra`` prints.
    """
