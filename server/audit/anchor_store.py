"""Where anchors are kept, outside the database: an S3 bucket with Object Lock (production) or a directory.

Anchors are only ever added, each as a new object named `{UTC yyyymmddTHHMMSSZ}-{random}.json`, so names sort
by time; nothing is overwritten or deleted (S3: PutObject with `If-None-Match: *`; files: written aside, then
hard-linked into place, which fails rather than replace). Objects with other names are ignored.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

NAME = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{16}\.json")


def anchor_name(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(8)}.json"


class AnchorStore(Protocol):
    """Add, list and read anchors (blocking calls: run them on a worker thread)."""

    @property
    def url(self) -> str: ...

    def put(self, name: str, body: bytes) -> str:
        """Add a new anchor (never replacing one); its URL."""
        ...

    def names(self) -> list[str]:
        """Every anchor's name, oldest first."""
        ...

    def get(self, name: str) -> bytes: ...


@dataclass(frozen=True)
class DirectoryStore:
    directory: Path

    @property
    def url(self) -> str:
        return self.directory.as_uri()

    def put(self, name: str, body: bytes) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / name
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".anchor-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temporary, final)  # atomic, and fails instead of replacing an existing anchor
        finally:
            os.unlink(temporary)
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)  # the new name survives a crash
        finally:
            os.close(directory)
        return final.as_uri()

    def names(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(path.name for path in self.directory.iterdir() if NAME.fullmatch(path.name))

    def get(self, name: str) -> bytes:
        return (self.directory / name).read_bytes()


@dataclass(frozen=True)
class S3Store:
    client: S3Client
    bucket: str
    prefix: str  # without leading or trailing slashes; may be empty

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def put(self, name: str, body: bytes) -> str:
        self.client.put_object(
            Bucket=self.bucket,
            Key=self._key(name),
            Body=body,
            ContentType="application/json",
            IfNoneMatch="*",  # never overwrite
            ChecksumAlgorithm="SHA256",  # Object Lock buckets require an integrity checksum on PutObject
        )
        return f"s3://{self.bucket}/{self._key(name)}"

    def names(self) -> list[str]:
        start = self._key("")
        names = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start):
            for item in page.get("Contents", []):
                name = item["Key"][len(start) :]
                if NAME.fullmatch(name):
                    names.append(name)
        return sorted(names)

    def get(self, name: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(name))["Body"].read()


def store_from_url(url: str, *, region: str, endpoint_url: str | None) -> AnchorStore:
    """The store AUDIT_ANCHOR_URL names (`s3://bucket/prefix` or `file:///dir`, validated by the settings)."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return DirectoryStore(Path(unquote(parts.path)))
    import boto3

    client = boto3.client("s3", region_name=region, endpoint_url=endpoint_url)
    return S3Store(client, parts.netloc, parts.path.strip("/"))
