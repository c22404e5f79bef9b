"""The Shopify stand-in assembled from its parts, and which route each one serves."""

from __future__ import annotations

from aiohttp import web

from zora.standins.shopify.admin_api import AdminApi
from zora.standins.shopify.admin_frame import AdminFrame
from zora.standins.shopify.records import Records
from zora.standins.shopify.webhooks import Webhooks


class ShopifyStandIn(AdminApi, Records, Webhooks, AdminFrame):
    """Shopify's Admin GraphQL API, OAuth and webhooks for the shops added to it."""

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/shops/{shop}/admin/api/{version}/graphql.json", self._graphql)
        router.add_route("*", "/shops/{shop}/admin/oauth/authorize", self._authorize)
        router.add_get("/shops/{shop}/admin/apps/{app}", self._app_in_admin)
        router.add_get("/dev/shopify/install", self._install_listing)
        router.add_post("/shops/{shop}/admin/oauth/access_token", self._access_token)
        router.add_get("/dev/shopify/admin", self._admin_frame)
        router.add_get("/dev/shopify/session-token", self._session_token)
