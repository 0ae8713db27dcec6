#!/usr/bin/env python
"""Django's command-line utility for the podscope hub (``python manage.py podscope serve``)."""

import os
import sys


def main() -> None:
    """Run a Django management command with the hub's settings."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    from django.core.exceptions import ImproperlyConfigured  # noqa: PLC0415
    from django.core.management import execute_from_command_line  # noqa: PLC0415

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:  # a bad PODSCOPE_* variable: one line, not a traceback
        sys.exit(f"podscope: error: {exc}")


if __name__ == "__main__":
    main()
