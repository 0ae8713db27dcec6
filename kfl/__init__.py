"""KFL, podscope's display filter language: compile a query once, call it on every entry.

Usage::

    from kfl import compile_filter, KflError
    f = compile_filter('dst.namespace == ""')
    f(entry)    # entry: the wire dict of capture.schema -> bool
"""

from kfl.compiler import Filter, compile_filter
from kfl.errors import KflError

__all__ = ["Filter", "KflError", "compile_filter"]
