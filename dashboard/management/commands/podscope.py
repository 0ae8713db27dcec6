"""``python manage.py podscope serve|demo``: the hub on daphne, with its embedded worker.

``serve``: without ``REDIS_URL``, one process runs the capture worker and the hub (in-process
queue, in-memory channel layer): ``--interface IF`` (default ``any``) captures live, ``--read
FILE`` reads a pcap instead; with ``REDIS_URL`` the hub reads the workers' stream. Names come
from ``--cluster-snapshot FILE`` (``kubectl get ... -o yaml``), else from the Kubernetes API
when a configuration is found, else only DNS names are shown.

``demo``: where this process can create network namespaces (tried, not guessed from the user
id), the capture lab (network-namespace pods in several namespaces, a DNS server and an
"external" host) with varied traffic, captured live; otherwise, or with ``--replay``, a recording
of that lab replayed in a loop with its cluster snapshot, saying why in one line. ``demo
--record DIR`` makes that recording.

Both stop within two seconds of SIGINT or SIGTERM, also when started with SIGINT ignored
(as a shell does for a background job): the handlers are installed here, not inherited.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from argparse import ArgumentParser
from contextlib import ExitStack
from pathlib import Path
from typing import Any, cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from contract.schema import Node
from contract.vocabulary import CAPTURE_MODES, DEFAULT_CAPTURE_MODE
from dashboard.core.config import HubConfig
from dashboard.core.garbage import freeze_startup
from dashboard.core.hub import Hub
from dashboard.core.ingest.embedded import EmbeddedWorker, live_worker, pcap_worker, replay_worker
from dashboard.core.ingest.sources import EntryDecoder, LocalEntrySource
from dashboard.core.naming.index import ClusterIndex
from dashboard.core.naming.snapshot import load_snapshot
from dashboard.core.targeting.scopes import LocalScopes
from dashboard.errors import EmbeddedCaptureError, HubConfigError, SnapshotError
from dashboard.instance import from_settings, install, watched_index
from lab.cluster import CLUSTER_CIDR, ClusterLab
from lab.clusterdemo import ClusterTraffic
from lab.demo import LabTraffic, lab_objects, load_objects
from lab.errors import LabError
from lab.recording import DEMO_PCAP, DEMO_SNAPSHOT
from lab.topology import NODE_IP, NODE_NAME, POD_CIDR, Lab, check_prerequisites

# Autobahn applies this to both directions: the consumer itself refuses client messages over
# 16 KiB; entries messages carry at most 500 entries (about 0.5 MiB).
WEBSOCKET_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
# How long a stopping hub waits for its capture threads (daemons: the process exits anyway).
STOP_SECONDS = 0.5

log = logging.getLogger("dashboard")


class Command(BaseCommand):
    """The ``podscope`` management command (``serve``, ``demo``)."""

    help = "Run the podscope hub: 'serve' (capture + hub, or the Redis stream) or 'demo'."

    def add_arguments(self, parser: ArgumentParser) -> None:
        """Sub-commands and their options."""
        actions = parser.add_subparsers(dest="action", required=True)
        serve = actions.add_parser("serve", help="serve the hub (embedded worker unless REDIS_URL)")
        _listen_options(serve)
        source = serve.add_mutually_exclusive_group()
        source.add_argument(
            "--interface",
            "-i",
            action="append",
            metavar="IF",
            help="capture live on IF (repeatable; default 'any'; needs root or CAP_NET_RAW)",
        )
        source.add_argument("--read", "-r", metavar="FILE", help="read a pcap/pcapng file once")
        serve.add_argument("--cluster-snapshot", metavar="FILE", help="names from kubectl output")
        serve.add_argument("--mode", choices=CAPTURE_MODES, default=DEFAULT_CAPTURE_MODE)
        serve.add_argument("--node", default=socket.gethostname(), help="this node's name")
        serve.add_argument(
            "--local-cidr", action="append", default=[], metavar="CIDR", help="pod networks here"
        )
        demo = actions.add_parser(
            "demo", help="the capture lab (if network namespaces can be made) or its recording"
        )
        _listen_options(demo)
        demo.add_argument(
            "--replay", action="store_true", help="replay the lab's recording even if it could run"
        )
        demo.add_argument("--record", metavar="DIR", help="record the lab to DIR and exit (root)")
        demo.add_argument("--seconds", type=int, default=30, help="how long --record records")
        demo.add_argument(
            "--lab",
            choices=("cluster", "node"),
            default="cluster",
            help="cluster: two nodes with kube-proxy Services and VXLAN (default); node: one node",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Dispatch to ``serve`` or ``demo``; a bad hub setting is one clear error line."""
        try:
            if options["action"] == "serve":
                self._serve(options)
            elif options["record"]:
                self._record(Path(options["record"]), options["seconds"])
            else:
                self._demo(options)
        except HubConfigError as exc:
            raise CommandError(str(exc)) from None

    # --- serve --------------------------------------------------------------------------------

    def _serve(self, options: dict[str, Any]) -> None:
        index = self._index(options["cluster_snapshot"])
        if settings.REDIS_URL:
            if options["interface"] or options["read"]:
                raise CommandError(
                    "REDIS_URL is set: the hub reads the workers' stream; "
                    "unset it to capture with --interface or --read"
                )
            self._run(from_settings(index), [], options)
            return
        source = LocalEntrySource()
        node = Node(name=options["node"])
        config = HubConfig.from_settings(settings.PODSCOPE)
        try:
            if options["read"]:
                embedded = pcap_worker(
                    source, Path(options["read"]), node=node, mode=options["mode"]
                )
                scopes = None
            else:
                embedded = live_worker(
                    source,
                    options["interface"] or ["any"],
                    node=node,
                    mode=options["mode"],
                    local_cidrs=tuple(options["local_cidr"]),
                )
                scopes = (
                    None if config.demo else LocalScopes(node.name, embedded.worker.request_scope)
                )
        except (EmbeddedCaptureError, ValueError) as exc:
            raise CommandError(f"cannot capture: {exc}") from None
        hub = Hub(config, index, source=source, scopes=scopes, decoder=EntryDecoder())
        if options["read"]:
            hub.recording = {"name": Path(options["read"]).name, "loop": False}
        self._run(hub, [embedded], options)

    def _index(self, snapshot: str | None) -> ClusterIndex:
        if not snapshot:
            return watched_index()
        index = ClusterIndex()
        try:
            report = load_snapshot(snapshot, index)
        except SnapshotError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"cluster snapshot: {sum(report.loaded.values())} objects "
            f"({report.invalid} invalid, skipped kinds {report.skipped or 'none'})"
        )
        return index

    def _run(self, hub: Hub, workers: list[EmbeddedWorker], options: dict[str, Any]) -> None:
        """Serve ``hub`` on daphne until interrupted, with ``workers`` capturing meanwhile."""
        from daphne.server import Server  # noqa: PLC0415 - installs Twisted's asyncio reactor
        from twisted.internet import reactor  # noqa: PLC0415 - the one daphne installed

        from dashboard.asgi import application  # noqa: PLC0415 - needs Django set up

        if settings.PODSCOPE["AUTH"]:
            self._prepare_auth()
        install(hub)
        bind, port = options["bind"], options["port"]

        def ready() -> None:
            freeze_startup()
            asyncio.get_event_loop().call_soon(hub.start)
            self.stdout.write(
                f"podscope hub on http://{bind}:{port}/  (websocket /ws/live, "
                f"API /api/..., metrics /metrics); Ctrl-C stops"
            )

        for worker in workers:
            worker.start()
        # Twisted stops on SIGINT only if Python's own handler is in place: a process started
        # with SIGINT ignored (a shell's background job) would not stop on Ctrl-C or SIGINT.
        signal.signal(signal.SIGINT, signal.default_int_handler)

        # The workers finish while the hub still reads their last entries, not after it stopped
        # (their final drain would wait for a reader that is gone).
        def stop_capturing() -> None:
            for worker in workers:
                worker.request_stop()

        cast(Any, reactor).addSystemEventTrigger("before", "shutdown", stop_capturing)
        server = Server(
            application,
            endpoints=[f"tcp:port={port}:interface={bind}"],
            ready_callable=ready,
            websocket_max_message_size=WEBSOCKET_MAX_MESSAGE_BYTES,
            websocket_max_frame_size=WEBSOCKET_MAX_MESSAGE_BYTES,
            verbosity=0,
        )
        try:
            server.run()
        finally:
            for worker in workers:
                worker.stop(timeout=STOP_SECONDS)
            install(None)
            # The store's entries need no collection on the way out: a full one at exit took
            # about a second with a full store.
            gc.freeze()

    def _prepare_auth(self) -> None:
        Path(settings.DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        if not get_user_model().objects.exists():
            self.stdout.write(
                "login is on and no user exists: create one with 'python manage.py createsuperuser'"
            )

    # --- demo ---------------------------------------------------------------------------------

    def _demo(self, options: dict[str, Any]) -> None:
        config = HubConfig.from_settings(settings.PODSCOPE)
        source = LocalEntrySource()
        if options["replay"]:
            self.stdout.write(f"--replay: replaying {DEMO_PCAP.name} (not live)")
            self._replay(config, source, options)
            return
        try:
            check_prerequisites()
        except LabError as exc:
            self.stdout.write(f"no capture lab ({exc}); replaying {DEMO_PCAP.name} instead")
            self._replay(config, source, options)
            return
        if options["lab"] == "node":
            self._demo_node(config, source, options)
            return
        with ExitStack() as stack:
            lab = stack.enter_context(ClusterLab("bridge"))
            index = ClusterIndex(cluster_cidrs=[CLUSTER_CIDR])
            objects = lab.snapshot()["items"]
            for kind in ("Node", "Service", "Pod", "EndpointSlice"):
                index.replace(kind, [item for item in objects if item["kind"] == kind])
            traffic = stack.enter_context(ClusterTraffic(lab))
            workers = [
                live_worker(
                    source,
                    ["any"],
                    node=Node(node.name, node.ip),
                    local_cidrs=(node.pod_cidr,),
                    namespace=functools.partial(lab.inside, node.netns),
                )
                for node in lab.nodes
            ]
            traffic.start()
            scopes = None
            if not config.demo:
                scopes = LocalScopes(lab.nodes[0].name, workers[0].worker.request_scope)
                scopes.add(lab.nodes[1].name, workers[1].worker.request_scope)
            hub = Hub(config, index, source=source, scopes=scopes, decoder=EntryDecoder())
            self.stdout.write(
                "capture lab up: two nodes (bridge + br_netfilter, kube-proxy iptables, VXLAN), "
                "Services payments/api, shop/web (NodePort 30080), shop/empty (no endpoints), "
                'kube-dns; try the filter dst.service == "api" or nat.snat.ip'
            )
            self._run(hub, workers, options)

    def _demo_node(
        self, config: HubConfig, source: LocalEntrySource, options: dict[str, Any]
    ) -> None:
        """The one-node capture lab, live (``demo --lab node``)."""
        with ExitStack() as stack:
            lab = stack.enter_context(Lab())
            index = ClusterIndex(cluster_cidrs=[POD_CIDR])
            load_objects(index, lab_objects(lab))
            traffic = stack.enter_context(LabTraffic(lab))
            embedded = live_worker(
                source,
                ["any"],
                node=Node(NODE_NAME, NODE_IP),
                local_cidrs=(POD_CIDR,),
                namespace=functools.partial(lab.inside, lab.node_ns),
            )
            traffic.start()
            scopes = None if config.demo else LocalScopes(NODE_NAME, embedded.worker.request_scope)
            hub = Hub(config, index, source=source, scopes=scopes, decoder=EntryDecoder())
            self.stdout.write(
                "capture lab up: pods in shop, payments, monitoring, kube-system; "
                'try the filter dst.namespace == "" or dst.name == "api.example.com"'
            )
            self._run(hub, [embedded], options)

    def _replay(self, config: HubConfig, source: LocalEntrySource, options: dict[str, Any]) -> None:
        index = ClusterIndex(cluster_cidrs=[POD_CIDR])
        try:
            load_snapshot(DEMO_SNAPSHOT, index)
            embedded = replay_worker(source, DEMO_PCAP, node=Node(NODE_NAME, NODE_IP))
        except (SnapshotError, EmbeddedCaptureError) as exc:
            raise CommandError(f"cannot replay the demo recording: {exc}") from None
        hub = Hub(config, index, source=source, decoder=EntryDecoder())
        hub.recording = {"name": DEMO_PCAP.name, "loop": True}
        self._run(hub, [embedded], options)

    def _record(self, directory: Path, seconds: int) -> None:
        try:
            check_prerequisites()
        except LabError as exc:
            raise CommandError(f"recording needs the capture lab: {exc}") from None
        if shutil.which("tcpdump") is None:
            raise CommandError("recording needs tcpdump")
        directory.mkdir(parents=True, exist_ok=True)
        pcap = directory / DEMO_PCAP.name
        with Lab() as lab, LabTraffic(lab, slow_every=3) as traffic:
            argv = lab.command(
                lab.node_ns, ["tcpdump", "-i", "any", "-s", "256", "-U", "-w", str(pcap)]
            )
            with subprocess.Popen(argv, stderr=subprocess.DEVNULL) as tcpdump:
                time.sleep(1.0)
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    traffic.round()
                    time.sleep(0.5)
                time.sleep(2.0)  # let the last connections close on the wire
                tcpdump.send_signal(signal.SIGINT)
                tcpdump.wait(10)
            snapshot = {"apiVersion": "v1", "kind": "List", "items": lab_objects(lab)}
        (directory / DEMO_SNAPSHOT.name).write_text(json.dumps(snapshot, indent=1) + "\n")
        os.chmod(pcap, 0o644)
        self.stdout.write(f"recorded {traffic.rounds} rounds to {pcap} and its snapshot")


def _listen_options(parser: ArgumentParser) -> None:
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
