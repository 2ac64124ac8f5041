"""User-facing errors: the CLI prints their message on one line and exits non-zero."""


class ConvnetError(Exception):
    """A problem with the user's input or environment, stated in one line."""

    exit_code = 2


class DataError(ConvnetError):
    """A data set, image or file that cannot be read as asked."""


class ConfigError(ConvnetError):
    """An option or configuration value that is out of range or unknown."""


class NetworkError(ConvnetError):
    """A download that could not be made."""


class WriteError(ConvnetError, OSError):
    """A file that could not be written (no permission, a full disk, a path like /proc/x).
    Also an OSError, so code that handles failed writes as OSError still does."""
