"""The simulator serves the catalog's paths, and only those (no path typed twice)."""

from __future__ import annotations

from m5c_async.protocol import ENDPOINTS, EndpointName
from m5c_async.simulator._app import _ROUTES, _SEND_PATHS
from m5c_async.simulator._wsdl import SOAP_PATH


def test_every_catalog_path_has_a_handler() -> None:
    """Routes and catalog name the same paths."""
    assert set(_ROUTES) == {e.path for e in ENDPOINTS.values()}


def test_send_paths_are_the_sending_endpoints() -> None:
    """Throttling faults apply to the three paths that can send."""
    assert {
        "/api/send/index.php",
        "/api/send/sms_batch.php",
        "/api/send/sms_webservice.php",
    } == _SEND_PATHS
    assert SOAP_PATH == ENDPOINTS[EndpointName.SEND_SOAP].path == "/api/send/sms_webservice.php"
