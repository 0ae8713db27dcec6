"""``podscope serve`` and ``podscope demo``: the hub's management command, run in-process.

The same options as ``python manage.py podscope serve|demo`` (the command is
``dashboard/management/commands/podscope.py``), with Django set up from ``dashboard.settings``
unless ``DJANGO_SETTINGS_MODULE`` says otherwise. Help and usage lines read ``podscope serve``.
"""

from __future__ import annotations

import os
from argparse import ArgumentParser

import django

PROG = "podscope"
ACTIONS = ("serve", "demo")


def run_hub(action: str, args: list[str]) -> int:
    """Run ``manage.py podscope <action> <args>``; return its exit status."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    django.setup()
    from dashboard.management.commands.podscope import Command  # noqa: PLC0415 - needs setup

    class HubCommand(Command):
        """The hub's command, its usage lines naming ``podscope`` rather than manage.py."""

        def add_arguments(self, parser: ArgumentParser) -> None:
            """The hub's options, under the program name ``podscope``."""
            parser.prog = PROG
            super().add_arguments(parser)

    try:
        HubCommand().run_from_argv([PROG, PROG, action, *args])
    except SystemExit as exc:  # help, a usage error, or a CommandError already printed
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    return 0
