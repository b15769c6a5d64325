"""The OpenAPI document and a LIVE node agree: schemathesis (its Python API)
against a real ``python -m node run`` process.

For every operation of /openapi.json, as served by the node, schemathesis
generates requests from the document (valid ones, and invalid ones that
break it) and checks each answer: never a 5xx, a status the document lists,
a body its schema accepts, a request the document calls valid is served and
one it calls invalid is refused. The examples per operation are bounded so
the whole run stays short on a loaded machine. /ws is a websocket handshake,
not a request and an answer: tests/rpc/test_api_ws.py covers it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "node"))
from nodekit import Cluster

from node.rpc.openapi import openapi_document

EXAMPLES_PER_OPERATION = 50
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.positive_data_acceptance,
    checks.negative_data_rejection,
]


@pytest.fixture(scope="module")
def live_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("schemathesis"), consensus="poa", nodes=1)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


def test_the_node_serves_the_document_the_run_is_built_from(live_node: Cluster) -> None:
    served = live_node.nodes[0].client.openapi()
    assert served == openapi_document()


# Built from the document the node serves (checked above): schemathesis's
# from_fixture, which would load it from the live node, does not run on pytest 9.
# A request the document calls invalid is refused with one of these: 400, and
# 413 for a batch over maxItems (as for a body over the size limit).
CONFIG = schemathesis.Config.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": [400, 403, 404, 405, 413]}}}
)
schema = schemathesis.openapi.from_dict(openapi_document(), config=CONFIG).exclude(path="/ws")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_live_node_answers_as_its_openapi_document_says(
    case: schemathesis.Case, live_node: Cluster
) -> None:
    case.call_and_validate(base_url=live_node.nodes[0].home.rpc_url, checks=CHECKS, timeout=30)
