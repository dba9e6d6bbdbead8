"""A voice broadcast's recording: an uploaded WAV, MP3 or OGG, recognised by its content (not
its name), at most MAX_BYTES, converted once with sox to what both PBX kinds play (8 kHz mono
16-bit PCM WAV) and kept in the media directory, from where it is copied to the nodes.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy.orm import Session

from control.config import settings
from control.errors import Invalid
from control.models import Broadcast, User
from control.services import audit
from control.services.broadcasts import get_editable

MAX_BYTES = 10 * 1024 * 1024
CONVERT_TIMEOUT = 60.0
#: What the PBX plays: sample rate, channels, bits.
RATE, CHANNELS, BITS = 8000, 1, 16


def media_dir() -> Path:
    path = settings().data_dir / "media"
    path.mkdir(parents=True, exist_ok=True)
    return path


def recording_path(name: str) -> Path:
    return media_dir() / name


def audio_type(data: bytes) -> str | None:
    """wav, mp3 or ogg by the file's first bytes; None for anything else."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:4] == b"OggS":
        return "ogg"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def convert(data: bytes, kind: str) -> bytes:
    """The recording as 8 kHz mono 16-bit WAV; Invalid if sox cannot read it."""
    sox = shutil.which("sox")
    if sox is None:
        raise RuntimeError("sox is not installed (Debian: sox libsox-fmt-mp3)")
    with tempfile.TemporaryDirectory(prefix="switchboard-recording-") as tmp:
        source, target = Path(tmp) / f"in.{kind}", Path(tmp) / "out.wav"
        source.write_bytes(data)
        done = subprocess.run(
            [
                sox,
                "-t",
                kind,
                str(source),
                "-r",
                str(RATE),
                "-c",
                str(CHANNELS),
                "-b",
                str(BITS),
                "-e",
                "signed-integer",
                "-t",
                "wav",
                str(target),
            ],
            capture_output=True,
            timeout=CONVERT_TIMEOUT,
            check=False,
        )
        if done.returncode != 0 or not target.exists():
            raise Invalid(f"This {kind.upper()} file cannot be read.", "recording")
        return target.read_bytes()


def save_recording(
    session: Session, tenant_id: int, broadcast_id: int, data: bytes, actor: User | None
) -> Broadcast:
    """Check, convert and keep the recording of a voice broadcast that has not started."""
    broadcast = get_editable(session, tenant_id, broadcast_id, "recording")
    if broadcast.kind != "voice":
        raise Invalid("Only a voice broadcast plays a recording.", "recording")
    if not data:
        raise Invalid("Choose the recording to upload.", "recording")
    if len(data) > MAX_BYTES:
        raise Invalid(f"A recording has at most {MAX_BYTES // (1024 * 1024)} MB.", "recording")
    kind = audio_type(data)
    if kind is None:
        raise Invalid("Upload a WAV, MP3 or OGG recording.", "recording")
    converted = convert(data, kind)
    digest = hashlib.sha256(converted).hexdigest()[:16]
    name = f"broadcast-{broadcast.id}-{digest}.wav"
    path = recording_path(name)
    partial = path.with_suffix(".part")
    partial.write_bytes(converted)
    partial.replace(path)
    broadcast.recording = name
    session.flush()
    audit.write(session, actor, "broadcast.recording", broadcast, size=len(data), kind=kind)
    return broadcast
