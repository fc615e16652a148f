"""Reading frames from cameras: PyAV (FFmpeg) for streams and devices, HTTP for snapshots.

A reader hands out one JPEG when a frame is due and decodes as little as it
can: an MJPEG stream's parts already are JPEGs (passed through, never
decoded); a compressed stream (RTSP, devices) is demultiplexed continuously
(cheap: bytes must be read anyway) but decoded only when a frame is due, from
the next key frame, which needs no other frame, or, if none comes within
``KEYFRAME_WAIT_S``, from the last key frame's group up to the newest packet.
A snapshot camera is asked for one picture when one is due.

Every wait is bounded: connecting by ``connect_timeout``, each read by
``read_timeout`` (PyAV's interrupt callback, requests' socket timeouts), so a
camera that accepts and never answers fails instead of hanging its thread.
Errors come out as :class:`CameraError` with credentials scrubbed.
"""

from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass

import av
import requests
from requests.auth import HTTPBasicAuth, HTTPDigestAuth

from classification.cameras.credentials import connect_url, scrub
from classification.models import Camera

KEYFRAME_WAIT_S = 2.0
MAX_GROUP_PACKETS = 600  # packets kept since the last key frame; a longer group decodes from the next one
JPEG_QUALITY = 90


class CameraError(Exception):
    """The camera cannot be read right now; the message is safe to show and store."""


@dataclass(frozen=True)
class Limits:
    connect_timeout: float
    read_timeout: float
    max_bytes: int


def open_reader(kind: str, url: str, username: str, password: str, limits: Limits):
    """A connected reader for one camera; raises :class:`CameraError` when it cannot be reached."""
    if kind == Camera.Kind.SNAPSHOT:
        return SnapshotReader(url, username, password, limits)
    return StreamReader(kind, url, username, password, limits)


def _sleep_until(due: float, stop: threading.Event) -> bool:
    """Wait for ``due`` (monotonic); False when stopped meanwhile."""
    return not stop.wait(max(0.0, due - time.monotonic()))


class StreamReader:
    _FORMATS = {Camera.Kind.MJPEG: "mpjpeg", Camera.Kind.DEVICE: "v4l2"}
    _OPTIONS = {
        Camera.Kind.RTSP: {"rtsp_flags": "prefer_tcp", "analyzeduration": "1000000", "probesize": "1000000"},
        Camera.Kind.MJPEG: {},
        Camera.Kind.DEVICE: {},
    }

    def __init__(self, kind: str, url: str, username: str, password: str, limits: Limits):
        self._password, self._limits = password, limits
        target = connect_url(url, username, password) if kind != Camera.Kind.DEVICE else url
        started = time.monotonic()
        try:
            self._container = av.open(
                target, format=self._FORMATS.get(kind), options=dict(self._OPTIONS.get(kind, {})),
                timeout=(limits.connect_timeout, limits.read_timeout),
            )
        except (av.error.FFmpegError, OSError) as exc:
            # The timeout interrupts FFmpeg, which some protocols (RTSP) report as bad data: go by the clock.
            if isinstance(exc, av.error.ExitError) or time.monotonic() - started >= limits.connect_timeout:
                raise CameraError(f"No answer within {limits.connect_timeout:g} s while connecting.") from exc
            raise CameraError(f"Could not open the stream: {scrub(exc, password)}") from exc
        if not self._container.streams.video:
            self.close()
            raise CameraError("The stream has no video.")
        self._stream = self._container.streams.video[0]
        self._codec = self._stream.codec_context
        # An MJPEG part is a whole JPEG: hand it on as it came. (A device's MJPEG may lack its
        # Huffman tables, so devices decode like any compressed stream.)
        self._passthrough = kind == Camera.Kind.MJPEG and self._codec.name == "mjpeg"
        self._packets = self._container.demux(self._stream)
        self.decoded_frames = 0

    def frame(self, due: float, stop: threading.Event) -> bytes | None:
        """The first frame at or after ``due`` (monotonic) as JPEG bytes; None when stopped."""
        group: list = []
        while not stop.is_set():
            packet = self._next_packet()
            if packet.is_keyframe:
                group = [packet]
            elif group:
                group = group + [packet] if len(group) < MAX_GROUP_PACKETS else []
            now = time.monotonic()
            if now < due:
                continue
            if self._passthrough:
                data = bytes(packet)
                if len(data) > self._limits.max_bytes:
                    raise CameraError(f"A frame of {len(data):,} bytes is over the limit of {self._limits.max_bytes:,}.")
                return data
            if packet.is_keyframe:
                image = self._decode([packet])
            elif group and now - due >= KEYFRAME_WAIT_S:
                image = self._decode(group)
            else:
                continue
            if image is not None:
                return image
        return None

    def _next_packet(self):
        while True:
            started = time.monotonic()
            try:
                packet = next(self._packets)
            except StopIteration:
                raise CameraError("The stream ended.") from None
            except (av.error.FFmpegError, OSError) as exc:
                if isinstance(exc, av.error.ExitError) or time.monotonic() - started >= self._limits.read_timeout:
                    raise CameraError(f"No data within {self._limits.read_timeout:g} s.") from exc
                raise CameraError(f"Reading the stream failed: {scrub(exc, self._password)}") from exc
            if packet.size:  # demux ends each stream with an empty packet
                return packet

    def _decode(self, packets) -> bytes | None:
        """Decode ``packets`` (a key frame and what follows it); the last picture as a JPEG."""
        frames = []
        try:
            for packet in packets:
                frames += self._codec.decode(packet)
            if not frames:  # a decoder that holds frames back (reordering) gives them up when drained
                frames += self._codec.decode(None)
                self._codec.flush_buffers()
        except av.error.FFmpegError:
            self._codec.flush_buffers()
            return None  # a damaged group: wait for the next key frame
        self.decoded_frames += len(frames)
        if not frames:
            return None
        buffer = io.BytesIO()
        frames[-1].to_image().save(buffer, format="JPEG", quality=JPEG_QUALITY)
        return buffer.getvalue()

    def close(self) -> None:
        try:
            self._container.close()
        except Exception:
            pass


class SnapshotReader:
    """Asks an HTTP(S) URL for one picture each time a frame is due (basic or digest authentication)."""

    def __init__(self, url: str, username: str, password: str, limits: Limits):
        self._url, self._password, self._limits = url, password, limits
        self._session = requests.Session()
        self._session.trust_env = False  # a proxy from the environment is not the camera's network
        self._auth_kinds = [HTTPBasicAuth, HTTPDigestAuth] if username or password else [None]
        self._credentials = (username, password)
        self.decoded_frames = 0

    def frame(self, due: float, stop: threading.Event) -> bytes | None:
        if not _sleep_until(due, stop):
            return None
        for auth_kind in list(self._auth_kinds):
            response = self._get(auth_kind(*self._credentials) if auth_kind else None)
            if response.status_code == 401 and len(self._auth_kinds) > 1:
                self._auth_kinds.remove(auth_kind)  # the camera wants the other scheme: remember that
                continue
            return self._body(response)
        raise CameraError("The camera refused the credentials (HTTP 401).")

    def _get(self, auth):
        timeout = (self._limits.connect_timeout, self._limits.read_timeout)
        try:
            return self._session.get(self._url, auth=auth, timeout=timeout, stream=True)
        except requests.ConnectTimeout as exc:
            raise CameraError(f"No answer within {self._limits.connect_timeout:g} s while connecting.") from exc
        except requests.ReadTimeout as exc:
            raise CameraError(f"No data within {self._limits.read_timeout:g} s.") from exc
        except requests.RequestException as exc:
            raise CameraError(f"Could not fetch the snapshot: {scrub(exc, self._password)}") from exc

    def _body(self, response) -> bytes:
        with response:
            if response.status_code != 200:
                raise CameraError(f"The camera answered HTTP {response.status_code} {response.reason}.")
            data = bytearray()
            try:
                for chunk in response.iter_content(64 * 1024):
                    data += chunk
                    if len(data) > self._limits.max_bytes:
                        raise CameraError(f"The snapshot is over the limit of {self._limits.max_bytes:,} bytes.")
            except requests.RequestException as exc:
                raise CameraError(f"Reading the snapshot failed: {scrub(exc, self._password)}") from exc
        return bytes(data)

    def close(self) -> None:
        self._session.close()
