"""Schemathesis hooks for scripts/schemathesis.sh: checks the HTTP contract adds to the OpenAPI document."""
import json

import schemathesis


@schemathesis.check
def problem_json_on_errors(ctx, response, case):
    """Every 4xx/5xx (except to HEAD, which has no body) is RFC 9457 problem+json with the contract's fields."""
    if response.status_code < 400 or case.method.upper() == "HEAD":
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    if content_type.split(";")[0].strip() != "application/problem+json":
        raise AssertionError(f"{response.status_code} with content type {content_type!r}, not problem+json")
    body = json.loads(response.content)
    for field in ("type", "title", "status", "code", "detail", "request_id"):
        if field not in body:
            raise AssertionError(f"problem body without {field!r}: {body}")
    if body["status"] != response.status_code:
        raise AssertionError(f"problem status {body['status']} on a {response.status_code} answer")
    return None
