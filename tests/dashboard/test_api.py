from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from django.test import AsyncClient

from tests.redisprefix import private_prefix

from tests.dashboard.djangoenv import installed  # isort: skip  (sets Django up)

from contract.bus import RedisKeys
from dashboard.core.config import HubConfig
from dashboard.core.hub import Hub
from dashboard.core.naming.index import ClusterIndex
from dashboard.core.sessions.registry import SessionLimits
from dashboard.core.store.scans import ScanLimits
from dashboard.core.targeting.scopes import LocalScopes, RedisScopes
from dashboard.core.targeting.spec import TargetingSpec
from dashboard.errors import WRITE_TOKEN_CODE
from kfl import compile_filter
from tests.dashboard.hubentries import cluster_index, dns_entry, tcp_entry

REDIS_URL = "redis://127.0.0.1:6379/9"
FRONTEND, CART, API = ("10.244.1.10", 40000), ("10.244.1.11", 8080), ("10.244.1.12", 9000)
STRIPE = ("54.187.174.169", 443)


def traffic() -> list[Any]:
    return [
        tcp_entry(1, src=FRONTEND, dst=CART, event="connect"),
        tcp_entry(
            2, src=(FRONTEND[0], 40001), dst=STRIPE, event="connect", dst_name="api.stripe.com"
        ),
        tcp_entry(3, src=(API[0], 40002), dst=CART, event="refused"),
        dns_entry(4, "api.stripe.com", STRIPE[0]),
    ]


@pytest.fixture
def client() -> AsyncClient:
    return AsyncClient()


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    with installed(Hub(HubConfig(store_size=100), cluster_index())) as hub:
        hub.accept(traffic())
        yield hub


async def get_json(client: AsyncClient, url: str, status: int = 200) -> Any:
    response = await client.get(url)
    assert response.status_code == status, response.content
    return json.loads(response.content)


async def test_validate(client: AsyncClient, hub: Hub) -> None:
    assert await get_json(client, "/api/validate?q=tcp") == {"valid": True}
    body = await get_json(client, "/api/validate?q=tcp%20and%20(")
    assert body["valid"] is False
    assert set(body["error"]) == {"message", "line", "column", "endLine", "endColumn", "context"}


async def test_entries_newest_first_with_cursor(client: AsyncClient, hub: Hub) -> None:
    body = await get_json(client, "/api/entries?q=tcp&limit=2")
    assert [e["id"] for e in body["entries"]] == ["w1/3", "w1/2"]
    assert body["next"] is not None
    older = await get_json(client, f"/api/entries?q=tcp&limit=2&before={body['next']}")
    assert [e["id"] for e in older["entries"]] == ["w1/1"]
    assert older["next"] is None
    # a query's limit() makes the pages shorter, not the last one
    capped = await get_json(client, "/api/entries?q=tcp%20and%20limit(1)&limit=100")
    assert [e["id"] for e in capped["entries"]] == ["w1/3"]
    assert capped["next"] is not None
    named = await get_json(client, "/api/entries?q=w1/1".replace("q=w1/1", 'q=id=="w1/1"'))
    assert named["entries"][0]["src"]["workload"] == "frontend"
    assert named["entries"][0]["dst"]["namespace"] == "shop"


async def test_external_and_named_queries(client: AsyncClient, hub: Hub) -> None:
    external = await get_json(client, '/api/entries?q=tcp and dst.namespace==""')
    assert [e["id"] for e in external["entries"]] == ["w1/2"]
    stripe = await get_json(client, '/api/entries?q=dst.name=="api.stripe.com"')
    assert [e["id"] for e in stripe["entries"]] == ["w1/2"]


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("/api/entries?q=tcp%20and", "expected"),
        ("/api/entries?limit=zero", "limit must be an integer"),
        ("/api/entries?limit=0", "between 1 and 1000"),
        ("/api/entries?before=-3", "between"),
        ("/api/map?level=cluster", "level must be one of"),
        ("/api/map?level=workload&services=maybe", "services must be true or false"),
        ("/api/export?format=xml", "format must be one of"),
        ("/api/map?q=nope.field==1", "nope"),
    ],
)
async def test_bad_requests_are_400_json(
    client: AsyncClient, hub: Hub, url: str, fragment: str
) -> None:
    body = await get_json(client, url, status=400)
    assert fragment in body["error"]["message"]


async def test_map_levels_and_filter(client: AsyncClient, hub: Hub) -> None:
    namespaces = await get_json(client, "/api/map?level=namespace")
    assert namespaces["level"] == "namespace"
    failed = sum(edge["failed"] for edge in namespaces["edges"])
    assert failed == 1
    workloads = await get_json(client, '/api/map?level=workload&q=src.namespace=="shop"')
    labels = {node["label"] for node in workloads["nodes"]}
    assert {"frontend", "cart", "api.stripe.com"} <= labels
    assert "api" not in labels
    assert workloads["services"] is True  # drawn unless turned off
    plain = await get_json(client, "/api/map?level=workload&services=false")
    assert plain["services"] is False


async def test_export_formats(client: AsyncClient, hub: Hub) -> None:
    response = await client.get("/api/export?format=text")
    text = response.content.decode()
    assert response["Content-Type"].startswith("text/plain")
    assert "frontend in namespace shop calls:" in text
    assert "  - api.stripe.com" in text
    body = await get_json(client, "/api/export?format=json")
    assert body
    response = await client.get("/api/export?format=yaml")
    assert response["Content-Type"].startswith("application/yaml")


async def test_nodegraph_routes(client: AsyncClient, hub: Hub) -> None:
    assert (await client.get("/api/nodegraph/api/health")).status_code == 200
    fields = await get_json(client, "/api/nodegraph/api/graph/fields")
    assert {"nodes_fields", "edges_fields"} <= set(fields)
    data = await get_json(client, "/api/nodegraph/api/graph/data?level=workload")
    assert data["nodes"]
    assert data["edges"]


async def test_metrics_stats_and_fields(client: AsyncClient, hub: Hub) -> None:
    response = await client.get("/metrics")
    text = response.content.decode()
    assert "podscope_hub_entries_ingested_total 4.0" in text
    assert 'dst_workload="cart"' in text
    stats = await get_json(client, "/api/stats")
    assert stats["accepted"] == 4
    assert "tcp" in (await get_json(client, "/api/fields"))["completions"]


async def test_fields_lists_kfl2_variables_and_helpers(client: AsyncClient, hub: Hub) -> None:
    completions = set((await get_json(client, "/api/fields"))["completions"])

    kfl2 = {"src.pod.name", "dst.service.namespace", "namespaces", "elapsed_time", "protocol"}
    helpers = {"map_get", "size", "exists_one", "timestamp", "duration", "weeks", "years"}
    assert kfl2 | helpers | {"src.labels", "local_labels", "conn_state"} <= completions


async def test_wrong_method_is_405(client: AsyncClient, hub: Hub) -> None:
    assert (await client.post("/api/entries")).status_code == 405


async def test_targeting_embedded_mode(client: AsyncClient) -> None:
    requested: list[str] = []
    index = cluster_index()
    index.replace(
        "Node",
        [
            {
                "kind": "Node",
                "metadata": {"name": "node-1", "uid": "n1"},
                "status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.2"}]},
            }
        ],
    )
    scopes = LocalScopes("node-1", requested.append)
    with installed(Hub(HubConfig(), index, scopes=scopes)):
        body = await get_json(client, "/api/targeting")
        assert body["spec"] == {"podRegex": "", "namespaces": [], "excludedNamespaces": []}
        response = await client.put(
            "/api/targeting", {"namespaces": ["payments"]}, content_type="application/json"
        )
        assert response.status_code == 200, response.content
        assert requested == ["host 10.244.1.12"]
        bad = await client.put("/api/targeting", {"podRegex": "("}, content_type="application/json")
        assert bad.status_code == 400
        assert "bad pod regex" in json.loads(bad.content)["error"]["message"]
        garbage = await client.put("/api/targeting", "{", content_type="application/json")
        assert garbage.status_code == 400
        assert (await get_json(client, "/api/targeting"))["spec"]["namespaces"] == ["payments"]


@pytest.fixture
def prefix() -> Iterator[str]:
    """A Redis key prefix of this test alone."""
    with private_prefix("test-api") as name:
        yield name


@pytest.mark.redis
async def test_targeting_writes_node_scopes_to_redis(client: AsyncClient, prefix: str) -> None:
    index = cluster_index()
    writer = RedisScopes(REDIS_URL, prefix)
    keys = RedisKeys(prefix)
    reader = redis.Redis.from_url(REDIS_URL)
    pubsub = reader.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
    pubsub.subscribe(keys.scope_channel)
    try:
        with installed(Hub(HubConfig(prefix=prefix), index, scopes=writer)):
            response = await client.put(
                "/api/targeting", {"podRegex": "^cart-"}, content_type="application/json"
            )
            assert response.status_code == 200, response.content
        assert reader.get(keys.scope("node-1")) == b"host 10.244.1.11"
        saved = json.loads(reader.get(writer.spec_key) or b"{}")
        assert saved["spec"]["podRegex"] == "^cart-"
        assert saved["base"] == {"podRegex": "", "namespaces": [], "excludedNamespaces": []}
        messages = [pubsub.get_message(timeout=1) for _ in range(3)]
        assert {"type": "message", "data": b"*"}.items() <= next(m for m in messages if m).items()
        other_replica = Hub(
            HubConfig(prefix=prefix), cluster_index(), scopes=RedisScopes(REDIS_URL, prefix)
        )
        assert other_replica.targeting is not None
        other_replica.targeting.refresh()
        assert other_replica.targeting.spec.pod_regex == "^cart-"
    finally:
        pubsub.close()
        reader.close()
        writer.close()


@pytest.mark.redis
async def test_demo_mode_applies_the_charts_targeting_and_refuses_changes(
    client: AsyncClient, prefix: str
) -> None:
    config = HubConfig(prefix=prefix, demo=True, targeting=TargetingSpec("^cart-"))
    hub = Hub(config, cluster_index(), scopes=RedisScopes(REDIS_URL, prefix))
    assert hub.targeting is not None
    hub.targeting.refresh()
    reader = redis.Redis.from_url(REDIS_URL)
    try:
        assert reader.get(RedisKeys(prefix).scope("node-1")) == b"host 10.244.1.11"
    finally:
        reader.close()
    with installed(hub):
        response = await client.put(
            "/api/targeting", {"podRegex": ""}, content_type="application/json"
        )
        assert response.status_code == 403
        assert "read-only" in json.loads(response.content)["error"]["message"]
        shown = await client.get("/api/targeting")
        assert shown.status_code == 200
        assert json.loads(shown.content)["spec"]["podRegex"] == "^cart-"


async def test_login_required_when_auth_is_on(client: AsyncClient) -> None:
    with installed(Hub(HubConfig(auth=True), ClusterIndex())):
        response = await client.get("/api/entries")
        assert response.status_code == 401


async def test_a_costly_filter_is_refused_before_it_scans(client: AsyncClient, hub: Hub) -> None:
    costly = " or ".join(f'dst.name == r"(a|b)*c{n}.*x.*y.*z"' for n in range(40))
    for route in ("/api/entries", "/api/map", "/api/export", "/api/nodegraph/api/graph/data"):
        response = await client.get(route, {"q": costly})
        assert response.status_code == 400, route
        assert "µs per entry" in json.loads(response.content)["error"]["message"]


async def test_scans_past_the_hub_wide_bound_are_refused_busy(client: AsyncClient) -> None:
    slow = ScanLimits(slice_seconds=0.0, share=0.001, burst_seconds=0.0)  # scans sleep a lot
    hub = Hub(HubConfig(store_size=1_000, scans=slow), cluster_index())
    hub.accept([tcp_entry(n) for n in range(1, 1_001)])
    with installed(hub):
        scans = [
            asyncio.create_task(hub.scanner.select(compile_filter("tcp")))
            for _ in range(slow.concurrent + slow.waiting)
        ]
        await asyncio.sleep(0.01)  # each holds or waits for a slot
        response = await client.get("/api/entries", {"q": "tcp"})
        assert response.status_code == 503
        assert response["Retry-After"] == "2"
        assert hub.stats()["scans"]["refusedBusy"] == 1
        for scan in scans:
            scan.cancel()
        await asyncio.gather(*scans, return_exceptions=True)
        assert hub.scanner.active == 0
        assert (await client.get("/api/entries", {"q": "tcp"})).status_code == 200


async def test_each_client_has_the_websocket_filter_budget_for_scans(client: AsyncClient) -> None:
    limits = SessionLimits(filters_per_minute=5)
    with installed(Hub(HubConfig(store_size=100, limits=limits), cluster_index())) as hub:
        statuses = [(await client.get("/api/export")).status_code for _ in range(6)]
        assert statuses == [200] * 5 + [429]
        response = await client.get("/api/map")
        assert response.status_code == 429
        assert int(response["Retry-After"]) >= 1
        assert hub.api_scans.take("10.0.0.9") == 0.0  # another client has its own budget
        assert hub.stats()["scans"]["apiRequestsRefused"] == 2
        assert (await client.get("/api/fields")).status_code == 200  # no scan


class PodClient(AsyncClient):
    """A client at a pod's address, not the hub's loopback."""

    def _base_scope(self, **request: Any) -> dict[str, Any]:
        scope: dict[str, Any] = super()._base_scope(**request)  # type: ignore[misc]
        scope["client"] = ["10.244.3.7", 40000]
        return scope


def targeting_hub(*, auth: bool = False) -> Hub:
    return Hub(HubConfig(auth=auth), cluster_index(), scopes=LocalScopes("node-1", lambda _: None))


async def test_writes_need_a_credential_even_when_reading_is_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(settings.PODSCOPE, "WRITE_TOKEN", "s3cret")
    spec = {"namespaces": ["payments"]}
    with installed(targeting_hub()) as hub:
        pod = PodClient(enforce_csrf_checks=True)
        assert (await pod.get("/api/targeting")).status_code == 200  # reading is open
        refused = await pod.put("/api/targeting", spec, content_type="application/json")
        assert refused.status_code == 403  # a pod of the cluster cannot blind the workers
        wrong = await pod.put(
            "/api/targeting",
            spec,
            content_type="application/json",
            headers={"Authorization": "Bearer x"},
        )
        assert wrong.status_code == 403
        assert hub.targeting is not None
        assert not hub.targeting.spec.namespaces
        allowed = await pod.put(  # the token, and no CSRF token: not a browser
            "/api/targeting",
            spec,
            content_type="application/json",
            headers={"Authorization": "Bearer s3cret"},
        )
        assert allowed.status_code == 200, allowed.content
        assert hub.targeting.spec.namespaces == ("payments",)


async def test_with_login_on_the_write_token_stands_for_a_login(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(settings.PODSCOPE, "WRITE_TOKEN", "s3cret")
    bearer = {"Authorization": "Bearer s3cret"}
    with installed(targeting_hub(auth=True)) as hub:
        pod = PodClient(enforce_csrf_checks=True)
        assert (await pod.get("/api/targeting")).status_code == 401
        assert (
            await pod.get("/api/targeting", headers={"Authorization": "Bearer x"})
        ).status_code == 401
        assert (await pod.get("/api/targeting", headers=bearer)).status_code == 200
        spec = {"podRegex": "^cart-"}
        wrong = await pod.put(
            "/api/targeting",
            spec,
            content_type="application/json",
            headers={"Authorization": "Bearer x"},
        )
        assert wrong.status_code == 403  # no token, no CSRF exemption: Django's CSRF check
        sent = await pod.put(
            "/api/targeting", spec, content_type="application/json", headers=bearer
        )
        assert sent.status_code == 200, sent.content
        assert hub.targeting is not None
        assert hub.targeting.spec.pod_regex == "^cart-"


async def test_a_write_without_its_credential_is_refused_with_its_code() -> None:
    with installed(targeting_hub()) as hub:
        pod = PodClient(enforce_csrf_checks=True)  # a pod with a CSRF token, but no login
        token = (await pod.get("/login/")).cookies["csrftoken"].value
        refused = await pod.put(
            "/api/targeting",
            {"namespaces": ["shop"]},
            content_type="application/json",
            headers={"X-CSRFToken": token},
        )
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == WRITE_TOKEN_CODE
        assert "write token" in refused.json()["error"]["message"]
        assert hub.targeting is not None
        assert hub.targeting.spec.targets_everything


async def test_a_browser_write_needs_the_csrf_token() -> None:
    with installed(targeting_hub()):
        browser = AsyncClient(enforce_csrf_checks=True)  # on the loopback: kubectl port-forward
        page = await browser.get("/login/")
        token = page.cookies["csrftoken"].value
        spec = {"podRegex": "^cart-"}
        forged = await browser.put("/api/targeting", spec, content_type="application/json")
        assert forged.status_code == 403
        sent = await browser.put(
            "/api/targeting", spec, content_type="application/json", headers={"X-CSRFToken": token}
        )
        assert sent.status_code == 200, sent.content


async def test_metrics_need_login_or_their_token_when_login_is_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(settings.PODSCOPE, "METRICS_TOKEN", "scrape")
    with installed(Hub(HubConfig(auth=True), ClusterIndex())):
        client = AsyncClient()
        assert (await client.get("/metrics")).status_code == 401
        scraped = await client.get("/metrics", headers={"Authorization": "Bearer scrape"})
        assert scraped.status_code == 200
        assert b"podscope_hub_entries_ingested_total" in scraped.content
    with installed(Hub(HubConfig(), ClusterIndex())):  # login off: open, as the API is
        assert (await AsyncClient().get("/metrics")).status_code == 200


async def test_head_is_answered_on_get_routes(client: AsyncClient, hub: Hub) -> None:
    for route in ("/api/stats", "/api/fields", "/api/entries", "/metrics", "/api/targeting"):
        response = await client.head(route)
        assert response.status_code in (200, 404), route  # 404: no targeting on this hub
        assert response.status_code != 405


async def test_odd_requests_are_no_server_errors(client: AsyncClient, hub: Hub) -> None:
    assert (await client.get("/assets/%00")).status_code == 404
    logout = await client.post("/logout/")
    assert logout.status_code == 302
    assert logout["Location"] == "/login/"
