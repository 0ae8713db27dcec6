"""What can go wrong in a ``podscope`` command, as one exception hierarchy with exit codes.

Third-party failures (the kubernetes client, helm, kubectl, HTTP) are translated into these at
the module that talks to them; ``cli.main`` prints ``podscope: <message>`` on stderr and exits
with ``exit_code``::

    Exception
     └── CliError                 a runtime failure (exit 1)
          ├── UsageError          a bad option or argument: regex, --set, names, URL (exit 2)
          │    └── QueryError     the hub refused the KFL query; carries line, column, caret
          ├── SetupError          the machine or cluster is not ready for the command (exit 2)
          │    ├── ToolMissingError      helm or kubectl not found
          │    ├── NoKubeContextError    no kubeconfig, or no such context in it
          │    ├── NoPermissionError     the user may not create or read what is needed
          │    └── NoWriteTokenError     the hub has no write token (Secret or key missing)
          ├── KubeApiError        the API server is unreachable or answered an error
          ├── HelmError           helm failed; carries helm's own error text
          ├── HubError            the hub is unreachable, not ready, or answered an error
          └── PortForwardError    kubectl port-forward failed or stopped
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A failure to report on stderr as one message; exit status 1."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(CliError):
    """A bad option or argument, found before anything was changed; exit status 2."""

    exit_code = EXIT_USAGE


class QueryError(UsageError):
    """An invalid KFL query, with the hub's position of the problem and its caret context."""

    def __init__(self, message: str, line: int, column: int, context: str) -> None:
        super().__init__(f"invalid query: line {line}, column {column}: {message}")
        self.line = line
        self.column = column
        self.context = context


class SetupError(CliError):
    """The environment cannot run the command (tools, kube context, permissions); exit 2."""

    exit_code = EXIT_USAGE


class ToolMissingError(SetupError):
    """A program the command runs (helm, kubectl) is not installed."""


class NoKubeContextError(SetupError):
    """No usable kubeconfig, or the requested context is not in it."""


class NoPermissionError(SetupError):
    """The current user may not create something the install needs, or read the write token."""


class NoWriteTokenError(SetupError):
    """The hub's write token cannot be found: no Secret, no key, or a hub without one."""


class KubeApiError(CliError):
    """The Kubernetes API server could not be reached or answered with an error."""


class HelmError(CliError):
    """A helm command failed; the message carries helm's own error text."""


class HubError(CliError):
    """The hub could not be reached, did not become ready, or answered with an error."""


class PortForwardError(CliError):
    """``kubectl port-forward`` could not start or stopped."""
