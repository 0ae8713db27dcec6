"""``python -m cli``: the ``podscope`` command."""

import sys

from cli.main import main

sys.exit(main())
