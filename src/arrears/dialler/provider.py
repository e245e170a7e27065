"""The dialler/CTI adapter interface, and the adapter for a dialler that speaks the HTTP contract of
docs/dialler.md."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import httpx

from arrears.dialler.model import CallRequest, DiallerError


@runtime_checkable
class Dialler(Protocol):
    """A dialler (predictive dialler, CTI server, cloud contact centre). It connects the agent to the
    number and reports the call's progress as signed events (``POST /dialler/events``)."""

    #: the provider's name in the store (``dialler_calls.provider``)
    name: str

    def originate(self, request: CallRequest) -> str:
        """Start the call; answer the dialler's own id of it, or raise :class:`DiallerError` (nothing
        dialled). The same ``call_id`` sent twice must not dial twice."""
        ...


class HttpDialler:
    """``POST {base_url}/calls`` with a bearer token and ``Idempotency-Key: <call_id>``; the answer's
    ``provider_call_id`` (2xx, JSON) is the dialler's id of the call."""

    name = "http"

    def __init__(self, base_url: str, *, api_key: str, timeout: float = 5.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(timeout=timeout, transport=transport,
                                    headers={"Authorization": f"Bearer {api_key}"})

    def originate(self, request: CallRequest) -> str:
        body = {"call_id": request.call_id, "agent": request.agent, "destination": request.destination,
                "case_ref": request.case_ref, "callback_url": request.callback_url}
        try:
            answer = self._client.post(f"{self.base_url}/calls", json=body,
                                       headers={"Idempotency-Key": request.call_id})
        except httpx.HTTPError as exc:
            raise DiallerError(f"the dialler did not answer: {type(exc).__name__}") from None
        if not answer.is_success:
            raise DiallerError(f"the dialler refused the call ({answer.status_code})")
        try:
            found = answer.json().get("provider_call_id")
        except (ValueError, AttributeError):
            found = None
        if not isinstance(found, str) or not found or len(found) > 64:
            raise DiallerError("the dialler's answer has no provider_call_id")
        return found

    def close(self) -> None:
        self._client.close()
