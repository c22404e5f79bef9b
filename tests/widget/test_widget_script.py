"""The widget's bundle is sent gzipped to browsers that take it (its share of a storefront's bandwidth:
bench/widget_impact.py), byte for byte the committed bundle once unpacked, and plain to the others."""

from __future__ import annotations

import gzip

from aiohttp.test_utils import make_mocked_request

from widget.http import script_response, static_file


def test_a_browser_that_takes_gzip_gets_the_bundle_gzipped() -> None:
    request = make_mocked_request("GET", "/widget.js", headers={"Accept-Encoding": "gzip, deflate, br"})
    response = script_response(request, "widget.js")

    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Vary"] == "Accept-Encoding"
    assert isinstance(response.body, bytes)
    assert gzip.decompress(response.body) == static_file("widget.js")
    assert len(response.body) < len(static_file("widget.js")) // 2


def test_a_client_without_gzip_gets_it_plain() -> None:
    response = script_response(make_mocked_request("GET", "/widget.js"), "widget.js")

    assert "Content-Encoding" not in response.headers
    assert response.body == static_file("widget.js")
    assert response.content_type == "application/javascript"
