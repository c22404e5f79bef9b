"""A Shopify stand-in on loopback: the Admin GraphQL API Zora uses, OAuth, and signed webhook deliveries.

Zora reaches it through `SHOPIFY_ADMIN_BASE_URL` (`{base_url}` with `{shop}` in the path), so the code
under test cannot tell it from Shopify for what is modelled here:

- Admin GraphQL at `/shops/{shop}/admin/api/{version}/graphql.json`: `shop`, `customers`, `orders`,
  `products` (cursor pagination, `sortKey: UPDATED_AT`, the `updated_at:>=` search filter), the three
  `*Count` fields, `order(id:)`, and the mutations `tagsAdd` (customers and orders), `tagsRemove`,
  `customerUpdate`, `orderCancel` and `orderUpdate` (order_api.py). Every answer carries
  `extensions.cost` with the leaky bucket's `throttleStatus` (as in Shopify's published example); a query
  costing more than the bucket holds gets Shopify's `THROTTLED` error, one over 1,000 points
  `MAX_COST_EXCEEDED`. Costs are computed from the query like Shopify does: objects 1, scalars 0,
  connections 2 + first x node cost, mutations 10.
- OAuth: `/admin/oauth/authorize` grants at once (no merchant to click) and redirects with a signed
  callback query; `/admin/oauth/access_token` answers the authorization-code grant and the token-exchange
  grant (App Bridge session token -> offline token).
- Webhooks: :meth:`ShopifyStandIn.send_webhook` POSTs a body signed with the app secret and Shopify's
  headers; data changes made through the stand-in can send the matching topic.

Not modelled: REST endpoints, bulk operations, webhook retries (tests resend explicitly), API version
differences, the 60-day limit without `read_all_orders`, and field projection (answers carry every
field Zora asks for, and a few more).

One module per part, each a mixin over :class:`~zora.standins.shopify.shops.Shops` (the shared state)
that :class:`ShopifyStandIn` (``standin.py``) assembles: ``graphql.py`` (the query reader and cost),
``admin_api.py``, ``order_api.py``, ``records.py``, ``webhooks.py``, ``oauth.py``, ``admin_frame.py``.
"""

from __future__ import annotations

from zora.standins.shopify.graphql import Field, query_cost
from zora.standins.shopify.shops import MAX_QUERY_COST, MUTATION_COST, StandInError
from zora.standins.shopify.standin import ShopifyStandIn

__all__ = ["MAX_QUERY_COST", "MUTATION_COST", "Field", "ShopifyStandIn", "StandInError", "query_cost"]
