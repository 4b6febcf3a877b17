"""The simulator and the shipped OpenAPI document agree: every kind of answer is validated.

Each request below is sent over loopback to a real simulator; its status must
be documented for that operation and its body must match the documented
schema (``jsonschema``, Draft 2020-12, which OpenAPI 3.1 schemas are).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from functools import cache
from importlib import resources
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from ruamel.yaml import YAML

from reconciler.drivers.base import JobRequest
from reconciler.testing import SimulatorHandle
from tests.drivers.conftest import StartSimulator
from tests.drivers.helpers import TOKEN

DOC_URI = "urn:reconciler:headend-openapi"


@cache
def document() -> dict[str, Any]:
    text = (resources.files("reconciler") / "drivers" / "openapi.yaml").read_text("utf-8")
    return dict(YAML(typ="safe", pure=True).load(text))


def validator(pointer: str) -> Draft202012Validator:
    resource = Resource.from_contents(document(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(DOC_URI, resource)
    return Draft202012Validator({"$ref": f"{DOC_URI}#{pointer}"}, registry=registry)


def escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def response_pointer(path: str, method: str, status: int) -> str:
    responses = document()["paths"][path][method]["responses"]
    code = str(status) if str(status) in responses else f"{str(status)[0]}XX"
    assert code in responses, f"{method.upper()} {path} answered {status}, which is not documented"
    base = f"/paths/{escape(path)}/{method}/responses/{code}"
    response = responses[code]
    if "$ref" in response:  # a shared response under components/responses
        base = response["$ref"].removeprefix("#")
    return f"{base}/content/application~1json/schema"


def call(
    sim: SimulatorHandle,
    method: str,
    path: str,
    body: Any = None,
    token: str = TOKEN,
    query: str = "",
) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(
        sim.url + path + (f"?{query}" if query else ""),
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method=method.upper(),
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), json.loads(error.read())


def job(gateway_id: str, key: str, **parameters: Any) -> dict[str, Any]:
    return {"gateway_id": gateway_id, "parameters": parameters, "idempotency_key": key}


def exchanges(sim: SimulatorHandle) -> list[tuple[str, str, int, dict[str, str], Any]]:
    """One of every kind of answer: pages, configs, jobs, statuses, declines and each error."""
    seen: list[tuple[str, str, int, dict[str, str], Any]] = []

    def send(method: str, path: str, body: Any = None, **options: Any) -> Any:
        status, headers, answer = call(sim, method, path, body, **options)
        seen.append((method, path, status, headers, answer))
        return answer

    page = send("get", "/api/v1/gateways", query="limit=2")
    send(
        "get",
        "/api/v1/gateways",
        query="limit=500&cursor=" + urllib.parse.quote(page["next_cursor"]),
    )
    send("get", "/api/v1/gateways", query="cursor=bogus")
    send("get", "/api/v1/gateways", query="limit=501")
    send("post", "/api/v1/gateways:config", {"gateway_ids": ["LSX-000000", "ACCU-000002", "nope"]})
    created = send("post", "/api/v1/jobs", job("LSX-000000", "a", HeartbeatInterval=60))
    send("post", "/api/v1/jobs", job("LSX-000000", "a", HeartbeatInterval=60))  # replay
    send("post", "/api/v1/jobs", job("LSX-999999", "b", HeartbeatInterval=60))  # 404
    send("post", "/api/v1/jobs", {"gateway_id": "LSX-000000"})  # 422
    batch = send(
        "post",
        "/api/v1/jobs:batch",
        {
            "jobs": [
                job("LSG-000001", "c", LightIntensity=10),  # declined: not in LSG's syntax
                job("LSX-999999", "d", HeartbeatInterval=60),  # not_found entry
                job("ACCU-000002", "e", MaxChargingCurrent=126),  # declined: out of bounds
                job("LSG-000001", "a", HeartbeatInterval=60),  # conflict entry
            ]
        },
    )
    send(
        "post",
        "/api/v1/jobs:batch",
        {"jobs": [job("LSX-000000", f"k{n}", X=1) for n in range(501)]},
    )
    ids = [created["job_id"], *(r["job_id"] for r in batch["results"] if "job_id" in r), "nope"]
    send("post", "/api/v1/jobs:status", {"job_ids": ids})  # requested
    time.sleep(0.25)
    send("post", "/api/v1/jobs:status", {"job_ids": ids})  # accepted, declined
    send("post", "/api/v1/jobs:status", {"job_ids": ids}, token="wrong")
    sim.set_faults(fail_next=["throttle", "error", "throttle", "error"])
    send("post", "/api/v1/jobs:batch", {"jobs": [job("LSX-000000", "z", HeartbeatInterval=60)]})
    send("post", "/api/v1/jobs:status", {"job_ids": ids})
    send("get", "/api/v1/gateways")
    send("post", "/api/v1/gateways:config", {"gateway_ids": ["LSX-000000"]})
    return seen


def test_every_simulator_answer_matches_the_openapi_document(
    start_simulator: StartSimulator,
) -> None:
    sim = start_simulator(fleet=5, retry_after_s=0, job_step_ms=100)
    seen = exchanges(sim)
    for method, path, status, headers, body in seen:
        errors = list(validator(response_pointer(path, method, status)).iter_errors(body))
        assert not errors, f"{method.upper()} {path} {status}: {errors[0].message} in {body}"
        if status == 429:
            assert "Retry-After" in headers
    assert {s for _, _, s, _, _ in seen} == {200, 202, 401, 404, 422, 429, 503}
    statuses = {
        j["status"] for *_, body in seen if isinstance(body, dict) for j in body.get("jobs", [])
    }
    assert {"requested", "accepted", "declined"} <= statuses


def test_the_job_requests_the_driver_sends_match_the_document() -> None:
    check = validator("/components/schemas/JobRequest")
    body = JobRequest(
        "LSX-000001", {"HeartbeatInterval": 60, "MeterValuesSampledData": ["SoC"]}, "k"
    ).as_json()
    assert not list(check.iter_errors(body))


@pytest.mark.parametrize("name", sorted(document()["components"]["schemas"]))
def test_every_schema_in_the_document_is_a_valid_json_schema(name: str) -> None:
    Draft202012Validator.check_schema(document()["components"]["schemas"][name])
