"""The exception types the training data sources share (their own module, so the sources and
training.data can import them without importing each other)."""


class DataError(ValueError):
    """Bad data or data flags; the message names the file or the flag."""


class SkippedSample(DataError):
    """A sample a source could not read and was told to skip (``on_error='skip'``).

    Whoever builds a dataset drops that sample and counts it (training.data.InMemory does); it is never
    replaced by a blank clip, which would train the model to call an empty scene by the sample's label.
    """
