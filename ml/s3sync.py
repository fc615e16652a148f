"""Training data in S3: ``s3://bucket/prefix/...`` synced to a local folder, or one ``.zip`` downloaded.

Training reads a local class-folder dataset, so an S3 prefix is first mirrored
into a cache folder. A manifest remembers each object's ETag and size; a second
sync downloads only objects that are new or changed and removes local files
whose objects are gone. Progress is printed as it goes (objects and bytes).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable
from urllib.parse import urlparse

MANIFEST = ".s3sync.json"

Progress = Callable[[str], None]


class S3SyncError(ValueError):
    """A bad URI or an unreachable bucket, with a message for people."""


@dataclass(frozen=True)
class SyncResult:
    directory: Path
    downloaded: int
    unchanged: int
    removed: int
    bytes_downloaded: int


def is_s3_uri(data: str | os.PathLike) -> bool:
    return str(data).startswith("s3://")


def parse_s3_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise S3SyncError(f"{uri!r} is not an s3://bucket/prefix address.")
    prefix = parsed.path.lstrip("/")
    return parsed.netloc, (prefix.rstrip("/") + "/") if prefix else ""


def s3_client(endpoint_url: str | None = None, region_name: str | None = None):
    """A boto3 client on the standard credential chain; endpoint for MinIO and friends."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url or os.environ.get("AWS_S3_ENDPOINT_URL") or None,
        region_name=region_name or os.environ.get("AWS_S3_REGION_NAME") or None,
        config=Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"}),
    )


def print_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _listing(client, bucket: str, prefix: str) -> dict[str, dict]:
    from botocore.exceptions import BotoCoreError, ClientError

    objects = {}
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                relative = item["Key"][len(prefix):]
                if relative and not relative.endswith("/"):
                    objects[relative] = {"etag": item["ETag"].strip('"'), "size": item["Size"]}
    except (BotoCoreError, ClientError) as exc:
        raise S3SyncError(f"Could not list s3://{bucket}/{prefix}: {exc}") from exc
    if not objects:
        raise S3SyncError(f"s3://{bucket}/{prefix} holds no objects.")
    return objects


def check_exists(uri: str, client=None) -> None:
    """Raise :class:`S3SyncError` unless ``uri`` names an object (``.zip``) or a prefix with objects.

    One request, before a training run is queued: a wrong address is said at once, not by the run.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = parse_s3_uri(uri)
    client = client or s3_client()
    try:
        found = client.list_objects_v2(Bucket=bucket, Prefix=prefix.rstrip("/") if uri.endswith(".zip") else prefix,
                                       MaxKeys=1).get("KeyCount", 0)
    except (BotoCoreError, ClientError) as exc:
        raise S3SyncError(f"Could not list {uri}: {exc}") from exc
    if not found:
        raise S3SyncError(f"{uri} holds no objects.")


def _safe_local_path(root: Path, relative: str) -> Path:
    """Refuse keys that would escape the cache folder (``..`` or absolute parts)."""
    parts = PurePosixPath(relative).parts
    if any(part in ("..", "") for part in parts) or PurePosixPath(relative).is_absolute():
        raise S3SyncError(f"Refusing object key {relative!r}: it would leave the dataset folder.")
    return root.joinpath(*parts)


def sync_prefix(uri: str, cache_root: str | Path, client=None, progress: Progress | None = print_progress) -> SyncResult:
    """Mirror ``uri`` into ``cache_root/<bucket>/<prefix>``; download only what changed."""
    bucket, prefix = parse_s3_uri(uri)
    client = client or s3_client()
    target = Path(cache_root) / bucket / prefix
    target.mkdir(parents=True, exist_ok=True)
    manifest_path = target / MANIFEST
    known = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    remote = _listing(client, bucket, prefix)
    say = progress or (lambda line: None)

    wanted = [key for key, meta in remote.items() if known.get(key) != meta or not (target / key).is_file()]
    total_bytes = sum(remote[key]["size"] for key in wanted)
    say(f"s3 sync {uri}: {len(remote)} objects, {len(wanted)} to download ({total_bytes / 1e6:.1f} MB)")
    done_bytes = 0
    for index, key in enumerate(wanted, start=1):
        local = _safe_local_path(target, key)
        local.parent.mkdir(parents=True, exist_ok=True)
        partial = local.with_name(local.name + ".part")
        client.download_file(bucket, prefix + key, str(partial))
        partial.replace(local)
        known[key] = remote[key]
        done_bytes += remote[key]["size"]
        if index == len(wanted) or index % 25 == 0:
            say(f"  {index}/{len(wanted)} objects, {done_bytes / 1e6:.1f}/{total_bytes / 1e6:.1f} MB")
            manifest_path.write_text(json.dumps(known))

    removed = 0
    for key in sorted(set(known) - set(remote)):
        _safe_local_path(target, key).unlink(missing_ok=True)
        del known[key]
        removed += 1
    manifest_path.write_text(json.dumps(known))
    return SyncResult(target, len(wanted), len(remote) - len(wanted), removed, done_bytes)


def fetch_object(uri: str, cache_root: str | Path, client=None, progress: Progress | None = print_progress) -> Path:
    """Download one object (a dataset ``.zip``) into ``cache_root/<bucket>/<key>``, unless unchanged (ETag)."""
    bucket, key = parse_s3_uri(uri)
    key = key.rstrip("/")
    if not key:
        raise S3SyncError(f"{uri!r} names a bucket, not an object.")
    from botocore.exceptions import BotoCoreError, ClientError

    client = client or s3_client()
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except (BotoCoreError, ClientError) as exc:
        raise S3SyncError(f"Could not read s3://{bucket}/{key}: {exc}") from exc
    local = _safe_local_path(Path(cache_root) / bucket, key)
    stamp = local.with_name(local.name + ".etag")
    etag = head["ETag"].strip('"')
    if local.is_file() and stamp.is_file() and stamp.read_text() == etag:
        return local
    local.parent.mkdir(parents=True, exist_ok=True)
    (progress or (lambda line: None))(f"s3 download {uri}: {head['ContentLength'] / 1e6:.1f} MB")
    partial = local.with_name(local.name + ".part")
    client.download_file(bucket, key, str(partial))
    partial.replace(local)
    stamp.write_text(etag)
    return local


def local_copy(uri: str, cache_root: str | Path, client=None, progress: Progress | None = print_progress) -> Path:
    """A local copy of ``s3://...`` training data: the synced prefix, or the downloaded ``.zip``."""
    if uri.lower().endswith(".zip"):
        return fetch_object(uri, cache_root, client, progress)
    return sync_prefix(uri, cache_root, client, progress).directory


def upload_folder(directory: str | Path, uri: str, client=None) -> int:
    """Upload every file under ``directory`` to ``uri`` (keys keep the relative paths)."""
    bucket, prefix = parse_s3_uri(uri)
    client = client or s3_client()
    count = 0
    for path in sorted(Path(directory).rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            client.upload_file(str(path), bucket, prefix + path.relative_to(directory).as_posix())
            count += 1
    return count
