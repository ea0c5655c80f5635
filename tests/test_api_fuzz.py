"""No input gives a 5xx: every operation of every service's OpenAPI, fuzzed with schemathesis over
HTTP against a running ``mch up`` (valid tokens, so the requests get past authentication and reach
the code behind it), with inputs that follow the schema and inputs that break it.

The budget per operation is small (the whole suite runs in CI); ``MCH_FUZZ_EXAMPLES`` raises it
for a longer run by hand."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode

from mch_platform.testing import SERVICE_ORDER, UpProcess

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("MCH_FUZZ_EXAMPLES", "12"))
"""Cases per operation and generation mode."""
TOKENS = ("admin", "facility")
"""Every role over the whole country, and a facility system (``POST /v1/events`` is its own)."""


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    up = UpProcess(tmp_path_factory.mktemp("fuzz"), "--demo-communes", "0")
    try:
        up.wait_running()
        yield up
    finally:
        code = up.stop()
    assert code == 0, up.output[-3000:]


@pytest.mark.parametrize("service", SERVICE_ORDER)
def test_no_input_gives_a_server_error(platform: UpProcess, service: str) -> None:
    base = platform.url(service)
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    tokens = [platform.headers(name) for name in TOKENS]
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an invalid schema raises here
        operations += 1
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @hypothesis.given(case=cases, token=st.sampled_from(tokens))
        @hypothesis.settings(
            max_examples=EXAMPLES * 2,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def call(case: Case[Any], token: dict[str, str]) -> None:
            response = case.call(base_url=base, headers=token, timeout=60)
            if response.status_code >= 500:
                failures.append(
                    f"{response.status_code} {case.as_curl_command()}\n{response.text[:300]}"
                )

        call()
    print(f"{service}: {operations} operations, up to {EXAMPLES * 2} cases each")
    assert operations > 0
    assert not failures, "\n\n".join(failures[:10])
