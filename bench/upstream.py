"""Direct requests to the sandbox: Sikka calls made with plain httpx (the floor), and its admin controls."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

import anyio
import httpx

from sandbox import DEMO_APP_ID, DEMO_APP_KEY, DEMO_OFFICE_ID, DEMO_PRACTICE_ID, DEMO_SECRET_KEY
from sandbox.latency import Served
from server.sikka.gateway import PATIENT_PHONES, PRACTICE_SCOPED
from server.sikka.writeback import POLL_DELAYS

Item = dict[str, Any]
PAGE_SIZE = 500  # what the server asks for when it reads a whole list


class Sikka:
    """Sikka v4 over httpx with a request key: each method issues the requests a tool must make."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, request_key: str) -> None:
        self.http = http
        self.base_url = base_url
        self.headers = {"Request-Key": request_key}
        self.sent: Counter[str] = Counter()  # "GET /patients": n

    @classmethod
    async def connect(cls, http: httpx.AsyncClient, base_url: str) -> Sikka:
        body = {
            "grant_type": "request_key",
            "office_id": DEMO_OFFICE_ID,
            "secret_key": DEMO_SECRET_KEY,
            "app_id": DEMO_APP_ID,
            "app_key": DEMO_APP_KEY,
        }
        response = await http.post(f"{base_url}/request_key", json=body)
        response.raise_for_status()
        return cls(http, base_url, response.json()["request_key"])

    async def request(self, method: str, endpoint: str, *, params: Item | None = None, body: Item | None = None) -> Any:
        """One request; the decoded body (None for 204)."""
        self.sent[f"{method} /{endpoint.split('/')[0]}"] += 1
        response = await self.http.request(
            method, f"{self.base_url}/{endpoint}", params=params, json=body, headers=self.headers
        )
        response.raise_for_status()
        return response.json() if response.status_code != 204 else None

    async def items(self, endpoint: str, params: Item, limit: int = PAGE_SIZE) -> list[Item]:
        """One page, scoped to the demo location where Sikka filters by practice_id (as the gateway does)."""
        scope = {"practice_id": DEMO_PRACTICE_ID} if endpoint in PRACTICE_SCOPED else {}
        envelope = await self.request("GET", endpoint, params={**params, **scope, "limit": limit, "offset": 0})
        return list(envelope["items"]) if envelope else []

    async def patients(self, params: Item, limit: int = PAGE_SIZE) -> list[Item]:
        return await self.items("patients", {**params, "fields": params.get("fields", PATIENT_PHONES)}, limit)

    async def patient(self, patient_id: str, *, insurance: bool = False) -> list[Item]:
        """The identity check's read; with `insurance`, every field (the plans on file)."""
        return await self.patients({"patient_id": patient_id, **({"fields": "get_all"} if insurance else {})})

    async def balance(self, patient_id: str) -> list[Item]:
        return await self.items("patient_balance", {"patient_id": patient_id})

    async def appointments(self, first: date, last: date, **filters: str) -> list[Item]:
        params = {"startdate": first.isoformat(), "enddate": last.isoformat(), "fields": "get_all", **filters}
        return await self.items("appointments", params)

    async def appointment(self, appointment_id: str) -> list[Item]:
        return await self.items("appointments", {"appointment_sr_no": appointment_id, "fields": "get_all"})

    async def write(self, method: str, endpoint: str, body: Item) -> str:
        """Submit a writeback and poll `writeback_status` on the server's schedule until it completes;
        the id it created (or the writeback id)."""
        receipt = await self.request(method, endpoint, body=body)
        writeback_id = str(receipt["long_message"]).split(":", 1)[1].strip()
        for attempt in range(100):
            await anyio.sleep(POLL_DELAYS[min(attempt, len(POLL_DELAYS) - 1)])
            status = await self.request("GET", "writeback_status", params={"id": writeback_id})
            item = status[0]["items"][0]
            if item["is_completed"].lower() == "true":
                return str(item["created_id"] or writeback_id)
        raise RuntimeError(f"writeback {writeback_id} never completed")


class Admin:
    """The sandbox's `/_admin` routes."""

    def __init__(self, http: httpx.AsyncClient, sandbox_url: str) -> None:
        self.http = http
        self.url = f"{sandbox_url}/_admin"
        self.seen = 0  # the last request of the sandbox's timeline this client has read past

    async def mark(self) -> None:
        """Note the sandbox's last request so far: `served_since_mark` lists what comes after it."""
        await self.served_since_mark()

    async def served_since_mark(self) -> list[Served]:
        """The Sikka requests the sandbox answered since the last mark (and mark again)."""
        page = (await self.http.get(f"{self.url}/requests", params={"after": self.seen})).json()
        self.seen = int(page["last_seq"])
        return [Served(**item) for item in page["requests"]]

    async def records(self, collection: str) -> list[Item]:
        response = await self.http.get(f"{self.url}/practices/{DEMO_OFFICE_ID}/1/{collection}")
        return list(response.json())

    async def configure(self, **settings: float) -> None:
        (await self.http.post(f"{self.url}/config", json=settings)).raise_for_status()
