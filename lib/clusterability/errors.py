"""The one exception type for mistakes a user can fix.

Anything raised as :class:`InputError` is shown to the user as one line (no
traceback) by the command-line interface and by the workflow's entry points.
Its message names the file or configuration key at fault and how to fix it.
"""


class InputError(ValueError):
    """Bad input from the user: a malformed file, a wrong checksum, a bad config value."""
