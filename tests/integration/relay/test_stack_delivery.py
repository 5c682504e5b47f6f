"""In the deployed stack: an inbound message injected in the emulated client is called back to the
relay over TLS (the client trusts the CA `onprem webhooks set` uploaded), acknowledged, and forwarded to
a downstream sink with the original bytes and a Standard Webhooks signature."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from onprem.relay.signing import parse_secrets, verify_headers
from tests.integration.ops.conftest import Stack
from tests.integration.relay.stack import inject, received, relay_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, stack_images: None) -> Iterator[Stack]:
    with relay_stack(tmp_path_factory.mktemp("relay-stack"), "it-relay-stack", "6315550002") as (deployed, _):
        yield deployed


def test_an_injected_inbound_message_reaches_the_sink_signed_through_the_tls_relay(stack: Stack) -> None:
    inject(stack, "16315559876", "hello relay")
    deadline = time.monotonic() + 90
    hits: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not hits:
        hits = [r for r in received(f"{stack.name}-sink") if b"hello relay" in base64.b64decode(r["body"])]
        time.sleep(0.5)
    assert hits, "the injected message never reached the downstream sink"
    record = hits[0]
    body = base64.b64decode(record["body"])
    document = json.loads(body)
    assert document["messages"][0]["from"] == "16315559876"
    assert document["messages"][0]["text"]["body"] == "hello relay"
    assert record["path"] == "/hook"
    keys = parse_secrets(
        (stack.workdir / ".onprem" / stack.name / "secrets" / "RELAY_SINK_SECRET").read_text()
    )
    assert verify_headers(keys, record["headers"], body, now=time.time())
    assert not verify_headers(keys, record["headers"], body + b" ", now=time.time())
