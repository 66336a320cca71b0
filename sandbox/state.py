"""The sandbox's in-memory state: practices, keys, writebacks, counters and faults."""

from __future__ import annotations

import random
import secrets
import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sandbox.config import SandboxConfig
from sandbox.data import (
    DEMO_OFFICE_ID,
    DEMO_PRACTICE_ID,
    DEMO_PRACTICE_NAME,
    DEMO_SECOND_PRACTICE_ID,
    DEMO_SECOND_PRACTICE_NAME,
    DEMO_SECRET_KEY,
    generate_practice,
)
from sandbox.envelopes import SikkaError
from sandbox.faults import FaultInjector
from sandbox.latency import Timeline, request_latency, writeback_delay
from sandbox.pms import pms_named
from sandbox.practice import WINDOWS_ZONES, Ids, Practice
from sandbox.ratelimit import RateWindow
from sandbox.writebacks import Kind, Writeback, WritebackQueue, text

TIMING_STREAM = zlib.crc32(b"latency")


@dataclass
class RequestKey:
    """An issued request_key, bound to one office."""

    request_key: str
    refresh_key: str
    office_id: str
    start_time: datetime
    end_time: datetime
    request_count: int = 0


class SandboxState:
    """Everything one sandbox holds; created with the demo practice."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.faults = FaultInjector(self.config.seed)
        self.counters: Counter[str] = Counter()
        self.timeline = Timeline()
        self._timing = random.Random()
        self.restart_timing()
        self.rate_window = RateWindow()
        self.writebacks = WritebackQueue()
        self._ids = Ids()
        self._practices: dict[tuple[str, str], Practice] = {}
        self._keys: dict[str, RequestKey] = {}
        self._refresh_keys: dict[str, tuple[str, str]] = {}  # refresh_key -> (office_id, secret_key) granted
        self.add_practice(
            DEMO_OFFICE_ID,
            DEMO_PRACTICE_ID,
            secret_key=DEMO_SECRET_KEY,
            name=DEMO_PRACTICE_NAME,
            seed=self.config.seed,
        )
        self.add_practice(
            DEMO_OFFICE_ID,
            DEMO_SECOND_PRACTICE_ID,
            secret_key=DEMO_SECRET_KEY,
            name=DEMO_SECOND_PRACTICE_NAME,
            patients=120,
        )

    def now(self) -> datetime:
        return self.config.clock()

    # Practices

    def add_practice(
        self,
        office_id: str,
        practice_id: str = "1",
        *,
        secret_key: str,
        name: str,
        pms: str = "Dentrix",
        time_zone: str = "Eastern Standard Time",
        state: str = "NY",
        listed: bool = True,
        patients: int = 200,
        seed: int | None = None,
        writeback_delay_seconds: float | None = None,
        uploaded: bool = True,
        access: bool = True,
    ) -> Practice:
        """Add a location with generated data (its roster by its place in the office, sandbox.roster);
        `seed` defaults to one derived from the ids. With `uploaded=False` its data reads answer API2010
        until `set_uploaded`; with `access=False` its API access is off until `POST /practice_location`."""
        if (office_id, practice_id) in self._practices:
            raise ValueError(f"practice {office_id}/{practice_id} exists")
        if time_zone not in WINDOWS_ZONES:
            raise ValueError(f"unknown time zone {time_zone!r}; known: {', '.join(WINDOWS_ZONES)}")
        pms_named(pms)
        if seed is None:
            seed = self.config.seed ^ zlib.crc32(f"{office_id}/{practice_id}".encode())
        practice = generate_practice(
            office_id=office_id,
            practice_id=practice_id,
            secret_key=secret_key,
            name=name,
            pms=pms,
            time_zone=time_zone,
            state=state,
            listed=listed,
            patients=patients,
            seed=seed,
            now=self.now(),
            ids=self._ids,
            location=len(self.practices(office_id)),
        )
        practice.writeback_delay_seconds = writeback_delay_seconds
        practice.uploaded = uploaded
        practice.access = access
        self._practices[office_id, practice_id] = practice
        return practice

    def practice(self, office_id: str, practice_id: str = "1") -> Practice:
        """A practice, with every due writeback applied (KeyError when unknown)."""
        self.complete_due_writebacks()
        return self._practices[office_id, practice_id]

    def practices(self, office_id: str | None = None) -> list[Practice]:
        """All practices, or those of one office (listed or not)."""
        return [p for p in self._practices.values() if office_id in (None, p.office_id)]

    def set_listed(self, office_id: str, practice_id: str, listed: bool) -> None:
        """Authorize (list) or de-authorize a practice; keys of a wholly unlisted office stop working."""
        self._practices[office_id, practice_id].listed = listed

    def set_secret_key(self, office_id: str, secret_key: str) -> None:
        """The office authorised the app anew: `authorized_practices` lists a new secret key for all its locations.
        Sikka does not say what becomes of keys issued with the old one; the least convenient reading is taken:
        every request_key and refresh_key of the office stops working."""
        for practice in self.practices(office_id):
            practice.secret_key = secret_key
        for refresh_key in [k for k, (office, _) in self._refresh_keys.items() if office == office_id]:
            del self._refresh_keys[refresh_key]
        for request_key in [k for k, key in self._keys.items() if key.office_id == office_id]:
            del self._keys[request_key]

    def set_uploaded(self, office_id: str, practice_id: str, uploaded: bool = True) -> None:
        """Mark a location's data as uploaded (or not yet: its reads answer API2010)."""
        self._practices[office_id, practice_id].uploaded = uploaded

    def set_reloading(self, office_id: str, practice_id: str, reloading: bool) -> None:
        """Start or end a data reload: `Data-Insert: in progress` while it lasts."""
        self._practices[office_id, practice_id].reloading = reloading

    def set_spu_online(self, office_id: str, practice_id: str, online: bool) -> None:
        """Stop or start a location's SPU. While it is off nothing is applied; once it is back, each writeback
        it held is applied after the practice's writeback delay (in submission order)."""
        practice = self._practices[office_id, practice_id]
        self.complete_due_writebacks()
        practice.spu_online = online
        if online:
            self.writebacks.release(practice.office_id, practice.practice_id, self.now(), self._delay(practice))

    def set_access(self, office_id: str, practice_ids: list[str], on: bool) -> None:
        """`POST /practice_location`: API access ON or OFF for listed locations of an office (all or none)."""
        listed = {p.practice_id: p for p in self.practices(office_id) if p.listed}
        unknown = [practice_id for practice_id in practice_ids if practice_id not in listed]
        if unknown or not practice_ids:
            raise SikkaError("API1026", long_message=f"Unknown practice_id(s) of {office_id}: {', '.join(unknown)}.")
        for practice_id in practice_ids:
            listed[practice_id].access = on

    # Counters

    def count(self, name: str) -> None:
        self.counters[name] += 1

    def reset_counters(self) -> None:
        self.counters.clear()

    # Timing

    def restart_timing(self) -> None:
        """Start the latency and writeback-delay draws again from the seed (their own stream: faults draw theirs)."""
        self._timing.seed(self.config.seed ^ TIMING_STREAM)

    def request_latency(self) -> float:
        """The configured latency of the next request (a seeded draw when a distribution is configured)."""
        return request_latency(self.config.latency_seconds, self.config.latency_p99_seconds, self._timing)

    def writeback_delay(self) -> float:
        """The configured delay of the next writeback (a seeded draw when a range is configured)."""
        config = self.config
        return writeback_delay(config.writeback_delay_seconds, config.writeback_delay_max_seconds, self._timing)

    # Keys

    def check_app(self, app_id: str | None, app_key: str | None) -> None:
        if app_id != self.config.app_id or app_key != self.config.app_key:
            raise SikkaError("API2003")

    def issue_key(self, office_id: str, secret_key: str) -> RequestKey:
        """A new request_key and refresh_key for an office whose secret matches a listed practice."""
        self._require_access(office_id, secret_key)
        refresh_key = secrets.token_hex(16)
        self._refresh_keys[refresh_key] = (office_id, secret_key)
        return self._new_key(office_id, refresh_key)

    def refresh(self, refresh_key: str) -> RequestKey:
        """A new request_key for the office of `refresh_key` (which stays the same)."""
        granted = self._refresh_keys.get(refresh_key)
        if granted is None:
            raise SikkaError("API2003", long_message="refresh_key is incorrect.")
        self._require_access(*granted)
        return self._new_key(granted[0], refresh_key)

    def _require_access(self, office_id: str, secret_key: str) -> None:
        """A grant (exchange or refresh) is for the listed locations of the office that share its secret key.
        Sikka does not say what a grant answers while a location's API access is off (§8); the conservative
        reading is taken: 401 API2007 when any of those locations has its access off (turn it on first)."""
        covered = [p for p in self.practices(office_id) if p.listed and p.secret_key == secret_key]
        if not covered or not all(p.access for p in covered):
            raise SikkaError("API2007")

    def resolve_key(self, request_key: str | None) -> RequestKey:
        """The live key behind a `Request-Key` header, counting the request."""
        if not request_key:
            raise SikkaError("API1004")
        key = self._keys.get(request_key)
        if key is None:
            raise SikkaError(
                "API1004",
                long_message="Requestkey is missing/invalid",
                more_information="Please provide correct requestkey",
            )
        if self.now() >= key.end_time:
            raise SikkaError("API1025")
        self._require_listed(key.office_id)
        key.request_count += 1
        return key

    def revoke_request_key(self, request_key: str) -> None:
        self._keys.pop(request_key, None)

    def delete_refresh_key(self, refresh_key: str) -> None:
        if self._refresh_keys.pop(refresh_key, None) is None:
            raise SikkaError("API2003", long_message="refresh_key is incorrect.")

    def issued_keys(self) -> list[str]:
        """Every request_key and refresh_key issued so far (tests check none of them leaks)."""
        return [*self._keys, *self._refresh_keys]

    def expire_request_keys(self) -> None:
        """Every issued request_key expires now."""
        now = self.now()
        for key in self._keys.values():
            key.end_time = min(key.end_time, now)

    def _new_key(self, office_id: str, refresh_key: str) -> RequestKey:
        now = self.now()
        key = RequestKey(
            request_key=secrets.token_hex(16),
            refresh_key=refresh_key,
            office_id=office_id,
            start_time=now,
            end_time=now + timedelta(seconds=self.config.key_ttl_seconds),
        )
        self._keys[key.request_key] = key
        return key

    def _require_listed(self, office_id: str) -> None:
        if not any(p.listed for p in self.practices(office_id)):
            raise SikkaError("API2007")

    # Writebacks

    def submit(
        self, kind: Kind, office_id: str, payload: dict[str, Any], target: str = "", request_key: str = ""
    ) -> Writeback:
        """Check and queue a writeback for a location of `office_id`, or raise Sikka's immediate error
        (412 API2017 when the body asks `check_spu` and the practice's SPU is off)."""
        practice = self._writable(office_id, text(payload, "practice_id"))
        if not kind.supported(practice.profile):
            raise SikkaError(
                "API2004",
                status=400,
                http_code="400",
                http_code_desc="BadRequest",
                short_message="Writeback not supported",
                long_message=f"{kind.method} /{kind.endpoint} is not supported for {practice.pms}.",
            )
        values = kind.validate(practice, payload, target, self.now())
        if text(payload, "check_spu").casefold() == "true" and not practice.spu_online:
            raise SikkaError("API2017", log_message="Sikka platform utility is offline")
        fault = self.faults.on_writeback(kind.endpoint, kind.method)
        delay = fault.delay_seconds if fault.delay_seconds is not None else self._delay(practice)
        now = self.now()
        writeback = Writeback(
            id=next(self._ids.writeback),
            kind=kind,
            office_id=office_id,
            practice_id=practice.practice_id,
            payload=payload,
            values=values,
            target=target,
            request_time=practice.local(now),
            due=now + timedelta(seconds=delay),
            failure=fault.failure,
            request_key=request_key,
        )
        self.writebacks.add(writeback)
        return writeback

    def _delay(self, practice: Practice) -> float:
        """How long the practice's SPU takes to apply a writeback (its own delay, else the configured one)."""
        if practice.writeback_delay_seconds is not None:
            return practice.writeback_delay_seconds
        return self.writeback_delay()

    def _writable(self, office_id: str, practice_id: str) -> Practice:
        """The location a writeback names: listed, uploaded (else API2010) and with access on (else API2007)."""
        if not practice_id:
            raise SikkaError("API1020", long_message="Missing parameter(s): practice_id.")
        practice = self._practices.get((office_id, practice_id))
        if practice is None or not practice.listed:
            raise SikkaError("API2019", long_message=f"practice_id {practice_id} is not a practice of this office.")
        if not practice.uploaded:
            raise SikkaError("API2010")
        if not practice.access:
            raise SikkaError("API2007")
        return practice

    def complete_due_writebacks(self) -> None:
        """Apply every due writeback whose practice's SPU is running; hold the others until it is back."""
        for writeback in self.writebacks.pop_due(self.now()):
            practice = self._practices[writeback.office_id, writeback.practice_id]
            if practice.spu_online:
                writeback.complete(practice, self._ids)
            else:
                self.writebacks.hold(writeback)

    def writebacks_of(self, office_id: str, practice_id: str | None = None) -> list[Writeback]:
        """An office's (or one practice's) writebacks, current as of now."""
        self.complete_due_writebacks()
        return [
            writeback
            for writeback in self.writebacks
            if writeback.office_id == office_id and practice_id in (None, writeback.practice_id)
        ]
