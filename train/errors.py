"""Errors that are the user's to fix: the command line prints their message, not a traceback."""

import contextlib
import sys


class UserError(Exception):
    """Base class: something the user can fix, said in one message."""


class DataUnavailableError(UserError, RuntimeError):
    """The data cannot be had: says what is missing, where we looked and how to provide it."""


class ConfigError(UserError, ValueError):
    """A configuration value that cannot work, named with its value."""


class RunDirError(UserError):
    """A workdir that would be overwritten, or has nothing to resume."""


class RunInUseError(RunDirError):
    """A workdir whose lock another process holds."""


class CorruptCheckpointError(RunDirError):
    """A checkpoint whose files are missing or differ from the digests its commit recorded."""


class TrainingDivergedError(UserError):
    """The loss became non-finite or exploded: says in which epoch and over which steps."""


@contextlib.contextmanager
def exit_on_user_error(*also: type[Exception]):
    """The one way a command line ends on a user error (or one of ``also``): ``error: <message>``,
    one line on stderr, exit status 2; and on Ctrl-C or SIGTERM (train/run.py's ``Interrupted``,
    whose message says what was interrupted and how to continue): that line, exit status 130 or
    143. Every entry point runs its work inside it."""
    try:
        yield
    except (UserError, *also) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as err:
        print(str(err) or "interrupted", file=sys.stderr)
        sys.exit(getattr(err, "exit_status", 130))
