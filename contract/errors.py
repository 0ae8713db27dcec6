"""The contract's errors: what a process reading the wire or the bus is told.

::

    Exception
     └── ContractError
          ├── SchemaError (ValueError)   a wire entry that is not a valid schema v1 entry
          ├── BusUrlError (ValueError)   a Redis URL that redis-py cannot use
          └── MessageError (ValueError)  a websocket message that is not one of the protocol's
"""

from __future__ import annotations


class ContractError(Exception):
    """Every error podscope's contract package raises on purpose derives from this."""


class SchemaError(ContractError, ValueError):
    """A wire entry that is not a valid schema v1 entry; ``path`` names the offending field."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


class BusUrlError(ContractError, ValueError):
    """A Redis URL that redis-py cannot use; the message names it."""


class MessageError(ContractError, ValueError):
    """A websocket message that is not one of the protocol's; the message says what is wrong."""
