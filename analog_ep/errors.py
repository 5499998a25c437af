"""One exception family for everything a user can get wrong.

The CLI maps :class:`AnalogEPError` (and its subclasses) to exit code 2 and a single
line on stderr; ``--debug`` shows the traceback instead.
"""


class AnalogEPError(Exception):
    """Base class: a problem the user can fix (bad config, missing data, divergence)."""


class ConfigError(AnalogEPError):
    """A configuration key, type or value is invalid."""


class DataError(AnalogEPError):
    """A dataset is unknown, missing, unreadable or corrupt."""


class DivergenceError(AnalogEPError):
    """States or weights became NaN or infinite during training."""


class CheckpointError(AnalogEPError):
    """A checkpoint or results file is missing or unreadable."""


class Preempted(Exception):
    """SIGTERM arrived during training (a cluster preempting the job): a checkpoint was written
    after the step in progress (a test pass stops at its next batch and is repeated on resume; a
    process's first step, which may compile numba's kernels for minutes, stops at once and is
    repeated from the checkpoint it started from) and the results say ``preempted``. The CLI
    exits with code 143 (128 + SIGTERM) and prints the resume command. Not an
    :class:`AnalogEPError`: nothing was wrong with the input."""

    exit_code = 143
