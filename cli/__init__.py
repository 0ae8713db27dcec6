"""The ``podscope`` command: install podscope on a cluster and open its dashboard (``tap``),
remove it (``clean``), print who calls whom from a running hub (``export``), or run the hub
locally (``serve``, ``demo``)."""
