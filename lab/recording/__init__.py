"""The demo's recording of the lab (a pcap and its cluster snapshot), shipped with the package.

``podscope demo`` replays it where the lab cannot be built; the browser tests and the
screenshots read it too. ``podscope demo --record DIR`` makes a new one.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

RECORDING = Path(str(files(__name__)))
DEMO_PCAP = RECORDING / "lab-demo.pcap"
"""The lab's traffic, captured on the node namespace's ``any`` interface."""
DEMO_SNAPSHOT = RECORDING / "lab-demo-snapshot.json"
"""The lab's pods, ReplicaSets and node, as the Kubernetes API lists them."""
