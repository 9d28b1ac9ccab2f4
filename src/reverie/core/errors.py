"""The error a user can cause and fix."""


class ReverieError(Exception):
    """An error the user can cause and fix (bad input, impossible config).

    The command line prints these in one line and exits non-zero, without a traceback.
    """
