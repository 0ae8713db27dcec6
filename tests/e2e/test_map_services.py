"""Services on the map in a real browser: entries dialed through Services, fed to a hub through
its Redis stream, drawn at workload level as caller -> Service -> backend with each hop's counts;
a REJECT at a Service without endpoints is a failed edge to it; a checkbox turns Services off."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
import redis
from playwright.sync_api import Page, expect

from contract.schema import Address, Entry, NatInfo
from tests.dashboard import objects
from tests.dashboard.hubentries import pod, replica_set, tcp_entry
from tests.e2e.conftest import ContextFactory
from tests.e2e.dashboard import WAIT_MS, open_dashboard, screenshot
from tests.e2e.hubprocess import HubStartError, running_hub
from tests.privateredis import PrivateRedis, free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PREFIX = "map-services"
FRONTEND = ("10.244.1.10", 41000)
CART_POD, CART_VIP = ("10.244.1.11", 8080), ("10.96.0.20", 80)
API_POD, API_VIP = ("10.244.1.12", 8443), ("10.96.0.40", 443)
EMPTY_VIP = ("10.96.0.30", 80)  # the Service shop/empty has no endpoints
CART = "workload:shop/cart"
FRONT = "workload:shop/frontend"
CART_SERVICE, EMPTY_SERVICE, API_SERVICE = (
    "service:shop/cart",
    "service:shop/empty",
    "service:payments/api",
)


def cluster() -> dict[str, Any]:
    """The snapshot the hub names entries by: three Deployments, three Services."""
    layout = (
        ("shop", "frontend", FRONTEND[0]),
        ("shop", "cart", CART_POD[0]),
        ("payments", "api", API_POD[0]),
    )
    return {
        "kind": "List",
        "items": [
            *(replica_set(namespace, name) for namespace, name, _ in layout),
            *(pod(namespace, name, ip) for namespace, name, ip in layout),
            objects.service("cart", "shop", CART_VIP[0], port=CART_VIP[1]),
            objects.service("empty", "shop", EMPTY_VIP[0], port=EMPTY_VIP[1]),
            objects.service("api", "payments", API_VIP[0], port=API_VIP[1]),
            objects.endpoint_slice("cart", "shop", [("cart-5d9c7b-x2x4q", CART_POD[0])]),
            objects.endpoint_slice("api", "payments", [("api-5d9c7b-x2x4q", API_POD[0])]),
        ],
    }


def dialed(
    number: int, port: int, event: str, reached: tuple[str, int], vip: tuple[str, int]
) -> Entry:
    """Report ``number`` of the frontend's connection from ``port`` to the Service at ``vip``
    that DNAT sent to ``reached`` (100 bytes sent, 200 received when it closes)."""
    sizes = (100, 200) if event == "close" else (0, 0)
    entry = tcp_entry(number, src=(FRONTEND[0], port), dst=reached, event=event, sizes=sizes)
    return msgspec.structs.replace(entry, nat=NatInfo(dialed=Address(*vip)))


FIRST = [
    dialed(1, 41000, "connect", CART_POD, CART_VIP),
    dialed(2, 41000, "close", CART_POD, CART_VIP),  # the same connection, ended
    dialed(3, 41001, "refused", CART_POD, CART_VIP),  # the pod refused it
    tcp_entry(4, src=(FRONTEND[0], 41002), dst=EMPTY_VIP, event="refused", sizes=(0, 0)),
    dialed(5, 41003, "connect", API_POD, API_VIP),
    tcp_entry(6, src=(FRONTEND[0], 41004), dst=CART_POD, event="connect"),  # the pod itself
    tcp_entry(7, src=(FRONTEND[0], 41005), dst=("54.187.174.169", 443), dst_name="api.stripe.com"),
]
LATER = [dialed(8, 41006, "connect", CART_POD, CART_VIP)]


def publish(client: redis.Redis, entries: list[Entry], start: int) -> None:
    """XADD entries as the worker ``w1`` numbers them."""
    for n, entry in enumerate(entries, start=start):
        fields = {"entry": entry.to_json(), "worker": "w1", "run": "run-1", "n": str(n)}
        client.xadd(f"{PREFIX}:entries", fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def services_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, redis.Redis]]:
    """A hub reading a private Redis stream that already holds FIRST, named by ``cluster()``;
    yields its URL and a client of the stream (to publish more)."""
    directory = tmp_path_factory.mktemp("map-services")
    snapshot = directory / "cluster.json"
    snapshot.write_text(json.dumps(cluster()))
    server = PrivateRedis(free_port(), directory)
    server.start()
    client = redis.Redis(port=server.port)
    try:
        publish(client, FIRST, 1)
        env = {"REDIS_URL": f"redis://127.0.0.1:{server.port}/0", "PODSCOPE_PREFIX": PREFIX}
        args = ("serve", "--cluster-snapshot", str(snapshot))
        with running_hub("services-hub", args, env, read_all=True) as url:
            yield url, client
    except HubStartError as exc:
        pytest.fail(str(exc))
    finally:
        client.close()
        server.kill()


def element(page: Page, element_id: str) -> dict[str, Any]:
    """The data of one map node or edge (empty when it is not drawn)."""
    data: dict[str, Any] = page.evaluate(
        "id => { const el = window.podscope.cy.getElementById(id);"
        " return el.empty() ? {} : el.data(); }",
        element_id,
    )
    return data


def counts(page: Page, element_id: str) -> tuple[int, int, int]:
    """(connections, failed, request bytes) of a drawn node or edge."""
    data = element(page, element_id)
    return data["connections"], data["failed"], data["requestBytes"]


def wait_for_element(page: Page, element_id: str, connections: int | None = None) -> None:
    """Wait until the map draws ``element_id`` (with that many connections, if given)."""
    check = "el.nonempty()" + (
        "" if connections is None else f" && el.data('connections') === {connections}"
    )
    page.wait_for_function(
        f"id => {{ const el = window.podscope.cy.getElementById(id); return {check}; }}",
        arg=element_id,
        timeout=WAIT_MS,
    )


def show_workloads(page: Page, url: str) -> None:
    """Open the dashboard and switch the map to the workload level (Services shown)."""
    open_dashboard(page, url)
    services = page.locator("#services")
    expect(services).to_be_disabled()  # a namespace holds its Services
    expect(services).to_be_checked()
    page.locator("#level").select_option("workload")
    expect(services).to_be_enabled()
    wait_for_element(page, CART_SERVICE)


def test_services_sit_between_callers_and_backends_with_each_hops_counts(
    page: Page, services_hub: tuple[str, redis.Redis]
) -> None:
    url, client = services_hub
    show_workloads(page, url)
    service = element(page, CART_SERVICE)
    assert (service["kind"], service["shown"]) == ("service", "shop/cart")
    # two connections dialed shop/cart (one refused by the pod), 100 bytes sent on the one closed
    assert counts(page, f"{FRONT}->{CART_SERVICE}") == (2, 1, 100)
    assert counts(page, f"{CART_SERVICE}->{CART}") == (2, 1, 100)
    assert counts(page, CART_SERVICE) == (2, 1, 100)  # once per connection, not per hop
    assert counts(page, f"{FRONT}->{CART}") == (1, 0, 0)  # dialed the pod itself
    # REJECTed at a Service without endpoints: a failed edge to it, and nothing beyond
    assert counts(page, f"{FRONT}->{EMPTY_SERVICE}") == (1, 1, 0)
    assert (
        page.evaluate(f"window.podscope.cy.getElementById('{EMPTY_SERVICE}').outgoers().length")
        == 0
    )
    assert counts(page, f"{FRONT}->{API_SERVICE}") == counts(
        page, f"{API_SERVICE}->workload:payments/api"
    )
    styled = page.evaluate(
        f"window.podscope.cy.getElementById('{CART_SERVICE}').style('border-style')"
    )
    assert styled == "dashed"

    publish(client, LATER, len(FIRST) + 1)  # one more, live
    wait_for_element(page, f"{FRONT}->{CART_SERVICE}", connections=3)
    assert counts(page, f"{CART_SERVICE}->{CART}") == (3, 1, 100)

    page.locator("#services").uncheck()  # caller -> backend, as before
    wait_for_element(page, f"{FRONT}->{CART}", connections=4)
    kinds = page.evaluate("window.podscope.cy.nodes().map(n => n.data('kind'))")
    assert "service" not in kinds
    page.locator("#services").check()
    wait_for_element(page, CART_SERVICE)


def test_clicking_a_service_filters_the_log_to_the_connections_through_it(
    page: Page, services_hub: tuple[str, redis.Redis]
) -> None:
    url, _ = services_hub
    show_workloads(page, url)
    position = page.evaluate(
        f"window.podscope.cy.getElementById('{CART_SERVICE}').renderedPosition()"
    )
    box = page.locator("#map").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + position["x"], box["y"] + position["y"])
    expect(page.locator("#query-state")).to_contain_text('dst.service == "cart"', timeout=WAIT_MS)
    rows = page.locator("#log-rows .row")
    expect(rows.first).to_be_visible(timeout=WAIT_MS)
    # the reports of connections dialed at shop/cart's address (w1/8 if published already);
    # not the one to the cart pod's own address (w1/6), nor the REJECT at shop/empty (w1/4)
    shown = set(rows.evaluate_all("rows => rows.map(row => row.dataset.entry)"))
    assert {"w1/3"} <= shown <= {"w1/1", "w1/2", "w1/3", "w1/8"}


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (1920, 1080)])
def test_screenshot_of_the_map_with_services(
    new_context: ContextFactory, services_hub: tuple[str, redis.Redis], width: int, height: int
) -> None:
    url, _ = services_hub
    page = new_context(width, height).new_page()
    show_workloads(page, url)
    page.wait_for_function("window.podscope.cy.nodes().length >= 7", timeout=WAIT_MS)
    page.locator("#fit").click()
    page.wait_for_timeout(300)
    screenshot(page, f"map-services-{width}")
