"""The Django app of the podscope hub."""

from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """Registers ``dashboard`` (management commands, templates) with Django."""

    name = "dashboard"
    verbose_name = "podscope hub"
