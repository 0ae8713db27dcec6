"""HTTP routes of the hub (API, Grafana Node Graph API, metrics, login)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from dashboard import api, frontend
from dashboard.login import ThrottledLoginView

urlpatterns = [
    path("", frontend.index, name="index"),
    path("assets/<path:name>", frontend.asset, name="asset"),
    path("api/validate", api.validate, name="validate"),
    path("api/entries", api.entries, name="entries"),
    path("api/map", api.graph_map, name="map"),
    path("api/export", api.export, name="export"),
    path("api/fields", api.fields, name="fields"),
    path("api/stats", api.stats, name="stats"),
    path("api/targeting", api.targeting, name="targeting"),
    path("api/nodegraph/api/health", api.nodegraph_health, name="nodegraph-health"),
    path("api/nodegraph/api/graph/fields", api.nodegraph_fields, name="nodegraph-fields"),
    path("api/nodegraph/api/graph/data", api.nodegraph_data, name="nodegraph-data"),
    path("metrics", api.metrics, name="metrics"),
    path("login/", ThrottledLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
