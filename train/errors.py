"""Errors that are the user's to fix: the command line prints their message, not a traceback."""


class UserError(Exception):
    """Base class: something the user can fix, said in one message."""


class DataUnavailableError(UserError, RuntimeError):
    """The data cannot be had: says what is missing, where we looked and how to provide it."""


class ConfigError(UserError, ValueError):
    """A configuration value that cannot work, named with its value."""


class RunDirError(UserError):
    """A workdir that would be overwritten, or has nothing to resume."""
