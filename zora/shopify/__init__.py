"""Shopify: install, webhook sync, reconciliation, and the customer data agents see.

`zora.shopify.models` is imported by workflows: it (and this file) must stay free of I/O libraries.
"""
