"""The one exception type for mistakes a user can fix.

The CLI turns an :class:`IvmError` into a one-line message and exit code 2; anything else is a bug in
ivm and keeps its traceback so that it can be reported.
"""


class IvmError(Exception):
    """A user error: bad SQL, an unknown name, a locked file. The message is shown as is."""
