"""The one exception the data layer raises for bad input.

Subclassing ValueError keeps ``except ValueError`` callers working, while launch code can catch
DataError alone to print a one-line message instead of a traceback: every message names the file
(and the line, where there is one), so the user can fix the input without reading our code.
"""


class DataError(ValueError):
    """Bad or unusable input data. The message always names the file (and line, where there is one)."""
