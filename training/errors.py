"""The exception types the training data sources share (their own module, so the sources and
training.data can import them without importing each other)."""


class DataError(ValueError):
    """Bad data or data flags; the message names the file or the flag."""

