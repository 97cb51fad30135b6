"""The one exception type the toolkit raises for bad user input.

Its message is a single line that names the file, row or column at fault; the
command line prints it without a traceback and exits with status 2.
"""


class InputError(ValueError):
    """Bad input from the user: a file, a row, a column, an option."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))
