"""A secret key that needs no configuration: made once, kept in VAR_DIR, readable only by its owner.

`make run` serves with DEBUG off out of the box, and Django needs a secret
key for that; a random one per start would sign everyone out at every
restart. The first process to start writes it (exclusively, so processes
starting together agree on one), the others read it. Deployments with
several machines set ``DJANGO_SECRET_KEY`` instead, so all of them share it.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

FILE_NAME = "secret_key"


def persistent_secret_key(var_dir: Path) -> str:
    path = Path(var_dir) / FILE_NAME
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(40):  # another process may have created it a moment ago and be writing it
            key = path.read_text().strip()
            if key:
                return key
            time.sleep(0.05)
        raise RuntimeError(f"{path} is empty: delete it to make a new secret key, or set DJANGO_SECRET_KEY.")
    key = secrets.token_urlsafe(50)
    with os.fdopen(descriptor, "w") as fh:
        fh.write(key + "\n")
    return key
