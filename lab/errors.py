"""Errors the CLI turns into one clear line (and exit code 2) instead of a traceback."""


class LabError(Exception):
    """A problem the user can fix; the message says what to change."""


class SpecError(LabError):
    """The topology spec is invalid."""


class PreflightError(LabError):
    """The machine can't run the lab as specified (engine, privileges, ports, platform)."""


class RenderError(LabError):
    """A value can't be written into a config file's grammar safely (a template filter refused it)."""
