"""The lab's one error.

::

    Exception
     └── LabError    the lab cannot be built or used (not root, no ``ip netns``): says why
"""

from __future__ import annotations


class LabError(Exception):
    """The lab cannot be built or used; the message says why."""
