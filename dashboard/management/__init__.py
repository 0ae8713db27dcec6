"""Django management commands of the podscope hub."""
