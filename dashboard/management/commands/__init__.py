"""The ``podscope`` management command."""
