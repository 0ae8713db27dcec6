"""``podscope``: tap a cluster, retarget it, clean it, export who calls whom, or run the hub here.

Exit status: 0 success (Ctrl-C ending ``tap``'s forwarding included), 1 a runtime failure (an
API, helm, hub or port-forward error), 2 a usage or environment error (bad option, no helm or
kubectl, no kube context, no permission, invalid query). Errors are one ``podscope: ...`` line on
stderr; an invalid query adds the hub's caret context under it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn, TypeAlias

from cli.defaults import (
    DEFAULT_NAMESPACE,
    DEFAULT_PORT,
    DEFAULT_RELEASE,
    DEFAULT_TIMEOUT_S,
    DEFAULT_URL,
)
from cli.errors import EXIT_OK, EXIT_USAGE, CliError, QueryError
from cli.hub import ACTIONS as HUB_ACTIONS
from cli.hub import run_hub
from cli.values import (
    TapValues,
    image_values,
    parse_dissectors,
    split_names,
    targeting_spec,
)
from contract.vocabulary import CAPTURE_MODES, EXPORT_FORMATS

PROG = "podscope"
Commands: TypeAlias = "argparse._SubParsersAction[OneLineParser]"
MAX_PORT = 65535


def main(argv: list[str] | None = None) -> int:
    """Run the ``podscope`` command line; return its exit status."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in HUB_ACTIONS:  # every option, -h included, belongs to the hub
        return run_hub(args[0], args[1:])
    parser = build_parser()
    options = parser.parse_args(args)
    try:
        options.run(options)
    except QueryError as exc:
        print(f"{PROG}: {exc.message}\n{exc.context}", file=sys.stderr)
        return exc.exit_code
    except CliError as exc:
        print(f"{PROG}: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return EXIT_OK


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        """Print ``<prog>: <message> (see '<prog> -h')`` and exit with status 2."""
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see '{self.prog} -h')\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every sub-command (serve and demo are listed; the hub parses them)."""
    parser = OneLineParser(
        prog=PROG,
        description="Tap a Kubernetes cluster with podscope, change what it captures, clean "
        "it up, export who calls whom from a running hub, or run the hub here.",
    )
    commands: Commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _tap_parser(commands)
    _target_parser(commands)
    _clean_parser(commands)
    _export_parser(commands)
    for action, summary in (
        ("serve", "run the hub here: capture an interface or read a pcap, serve the dashboard"),
        ("demo", "run the hub here on demo traffic (the capture lab as root, else a recording)"),
    ):
        commands.add_parser(action, help=f"{summary} (see 'podscope {action} -h')", add_help=False)
    return parser


def _tap_parser(commands: Commands) -> None:
    tap = commands.add_parser(
        "tap",
        help="install podscope on the cluster and open its dashboard",
        description="Install or upgrade podscope (helm) in the current kube context, wait for "
        "the hub, forward it to 127.0.0.1:PORT and open the dashboard; Ctrl-C stops forwarding "
        "(podscope stays installed until 'podscope clean'). Each tap installs exactly its own "
        "options over the chart's defaults.",
    )
    _targeting_options(tap)
    tap.add_argument(
        "--mode", choices=CAPTURE_MODES, help="capture mode (chart default: connections)"
    )
    tap.add_argument(
        "--dissectors",
        metavar="LIST",
        help="comma-separated dissectors the workers run: tcp,udp,dns,icmp (chart default: all)",
    )
    tap.add_argument(
        "--docker-registry",
        metavar="REGISTRY",
        help="pull the podscope image from REGISTRY/podscope, e.g. registry.example:5000/team "
        "(chart default: its image.repository)",
    )
    tap.add_argument(
        "--docker-tag", metavar="TAG", help="image tag (chart default: the chart's appVersion)"
    )
    tap.add_argument(
        "--image",
        metavar="REF",
        help="the whole image reference, e.g. registry.example/podscope:dev (instead of "
        "--docker-registry and --docker-tag)",
    )
    tap.add_argument(
        "--dry-run",
        action="store_true",
        help="print the helm command (with every value it sets) and change nothing",
    )
    tap.add_argument(
        "--set",
        dest="extra_sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any chart value, as helm --set (repeatable; applied last, so it wins)",
    )
    _placement_options(tap)
    tap.add_argument(
        "--chart",
        type=Path,
        help="chart directory or .tgz (default: charts/podscope of this podscope checkout)",
    )
    tap.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help=f"local port the dashboard is forwarded to (default {DEFAULT_PORT})",
    )
    tap.add_argument("--no-browser", action="store_true", help="print the URL, do not open it")
    _timeout_option(tap, "the install and the hub")
    tap.set_defaults(run=_run_tap)


def _targeting_options(parser: argparse.ArgumentParser) -> None:
    """POD_REGEX, -n and --exclude-namespace: which pods are captured (tap and target)."""
    parser.add_argument(
        "pod_regex",
        nargs="?",
        default="",
        metavar="POD_REGEX",
        help="capture only pods whose name matches this RE2 regex (default: all pods)",
    )
    parser.add_argument(
        "-n",
        "--namespace",
        dest="namespaces",
        action="append",
        default=[],
        metavar="NAMESPACE",
        help="capture only pods in NAMESPACE (repeatable or comma-separated, -n a,b; default: "
        "all namespaces)",
    )
    parser.add_argument(
        "--exclude-namespace",
        dest="excluded_namespaces",
        action="append",
        default=[],
        metavar="NS",
        help="never capture pods in NS (repeatable or comma-separated)",
    )


def _target_parser(commands: Commands) -> None:
    target = commands.add_parser(
        "target",
        help="change which pods a running podscope captures, without a restart",
        description="Send the targeting (POD_REGEX, -n, --exclude-namespace, as for tap) to "
        "the running hub's PUT /api/targeting with the write token read from the release's "
        "Secret, through a kubectl port-forward of its own: the hub keeps its entries and the "
        "workers switch within seconds. Options left out target every pod. It holds across "
        "hub restarts until the chart's own targeting values change (a tap with other "
        "targeting options, a helm upgrade of tap.*).",
    )
    _targeting_options(target)
    _placement_options(target)
    _timeout_option(target, "the hub and the port-forward")
    target.set_defaults(run=_run_target)


def _clean_parser(commands: Commands) -> None:
    clean = commands.add_parser(
        "clean",
        help="remove podscope from the cluster (helm uninstall)",
        description="Uninstall the podscope release and wait for its objects to go. A release "
        "that is not installed is reported and is not an error (exit 0). The namespace stays.",
    )
    _placement_options(clean)
    _timeout_option(clean, "the objects to be deleted")
    clean.set_defaults(run=_run_clean)


def _timeout_option(parser: argparse.ArgumentParser, waited_for: str) -> None:
    parser.add_argument(
        "--timeout",
        type=_positive,
        default=DEFAULT_TIMEOUT_S,
        metavar="S",
        help=f"seconds to wait for {waited_for} (default {DEFAULT_TIMEOUT_S})",
    )


def _export_parser(commands: Commands) -> None:
    export = commands.add_parser(
        "export",
        help="print who calls whom, per workload, from a running hub",
        description="Print who calls whom (per workload, external names included) from a "
        "running hub's /api/export.",
    )
    export.add_argument(
        "--url",
        default=DEFAULT_URL,
        help=f"the hub (default {DEFAULT_URL}, where 'podscope tap' forwards it)",
    )
    export.add_argument(
        "-q", "--query", default="", help="KFL filter of the entries considered (default: all)"
    )
    export.add_argument("--format", choices=EXPORT_FORMATS, default="text", help="output format")
    export.set_defaults(run=_run_export)


def _placement_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--release",
        default=DEFAULT_RELEASE,
        help=f"helm release name (default {DEFAULT_RELEASE})",
    )
    parser.add_argument(
        "--install-namespace",
        default=DEFAULT_NAMESPACE,
        metavar="NS",
        help=f"namespace podscope is installed in (default {DEFAULT_NAMESPACE})",
    )
    parser.add_argument("--context", help="kube context (default: the current context)")


def _run_tap(options: argparse.Namespace) -> None:
    from cli.tap import (  # noqa: PLC0415 - heavy imports
        DEFAULT_CHART,
        Placement,
        TapRequest,
        dry_run,
        tap,
    )

    repository, tag = image_values(options.docker_registry, options.docker_tag, options.image)
    values = TapValues(
        pod_regex=options.pod_regex,
        namespaces=split_names(options.namespaces),
        excluded_namespaces=split_names(options.excluded_namespaces),
        mode=options.mode,
        dissectors=parse_dissectors(options.dissectors) if options.dissectors else (),
        image_repository=repository,
        image_tag=tag,
        extra_sets=tuple(options.extra_sets),
    )
    request = TapRequest(
        values=values,
        placement=Placement(options.release, options.install_namespace, options.context),
        chart=options.chart or DEFAULT_CHART,
        local_port=options.port,
        open_browser=not options.no_browser,
        timeout_s=options.timeout,
    )
    if options.dry_run:
        dry_run(request, sys.stdout)
    else:
        tap(request, sys.stdout)


def _run_target(options: argparse.Namespace) -> None:
    from cli.tap import Placement  # noqa: PLC0415 - heavy imports
    from cli.target import TargetRequest, target  # noqa: PLC0415

    spec = targeting_spec(
        options.pod_regex,
        split_names(options.namespaces),
        split_names(options.excluded_namespaces),
    )
    placement = Placement(options.release, options.install_namespace, options.context)
    target(TargetRequest(spec, placement, options.timeout), sys.stdout)


def _run_clean(options: argparse.Namespace) -> None:
    from cli.tap import Placement, clean  # noqa: PLC0415 - heavy imports

    placement = Placement(options.release, options.install_namespace, options.context)
    clean(placement, sys.stdout, options.timeout)


def _run_export(options: argparse.Namespace) -> None:
    from cli.export import fetch_export  # noqa: PLC0415

    sys.stdout.write(fetch_export(options.url, options.query, options.format))


def _port(text: str) -> int:
    port = _positive(text)
    if port > MAX_PORT:
        raise argparse.ArgumentTypeError(f"bad port {text!r}: 1 to {MAX_PORT}")
    return port


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, not {text!r}")
    return value


if __name__ == "__main__":
    sys.exit(main())
