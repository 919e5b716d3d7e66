"""One line for an OS error (read-only, permission, missing folder, full disk), naming the path.

Used where a user's command meets the file system (`launch.py`, every `ravejobs` subcommand):
the line replaces a traceback that says the same thing forty lines down.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

HINTS = {
    errno.EROFS: "read-only file system; point RAVEJOBS_ROOT (or --out) at a writable folder",
    errno.EACCES: "permission denied; check the folder's owner and mode (docs/admins.md)",
    errno.EPERM: "operation not permitted; check the folder's owner and mode",
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "a file is in the way where a folder is expected",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded (`diskusage_report` on Alliance clusters)",
}


def os_error_line(err: OSError) -> str:
    """`<path>: <what happened>[, free space]`, one line."""
    path = err.filename if err.filename is not None else ""
    what = HINTS.get(err.errno or -1) or err.strerror or str(err)
    if err.errno in (errno.ENOSPC, errno.EDQUOT) and path:
        what += f" ({_free(Path(str(path)))} free there)"
    if err.filename2 is not None:
        path = f"{path} -> {err.filename2}"
    return f"{path}: {what}" if path else what


def _free(path: Path) -> str:
    for folder in (path, *path.parents):
        try:
            return f"{shutil.disk_usage(folder).free / 1e9:.2f} GB"
        except OSError:
            continue
    return "unknown"
