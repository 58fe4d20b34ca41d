"""User-facing errors: anything the user can fix gets a GanforgeError, printed as one line with exit code 2."""


class GanforgeError(Exception):
    """A problem with the user's input (config, files, names) that the message tells them how to fix."""
