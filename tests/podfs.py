"""Runs a command as a container of a pod would see its files, with no container engine: in a private
mount namespace (`unshare --mount`, as root) where every file system is read-only
(`readOnlyRootFilesystem`) but the pod's volumes, each mounted at its own path from a directory laid
out the way kubelet lays out a ConfigMap, Secret or emptyDir volume; then as the pod's user, with no
capability and no new privileges (`setpriv`). Nothing is changed outside the namespace: a mount path
that does not exist on this machine is made in an overlay whose changes go to a scratch directory.

`python podfs.py SPEC` is the namespace's first process: it mounts, then becomes the command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Volume:
    mount_path: str
    source: str  # the directory kubelet would have made
    writable: bool  # an emptyDir; ConfigMap and Secret volumes are read-only


@dataclass(frozen=True)
class Spec:
    volumes: list[Volume]
    argv: list[str]
    env: dict[str, str]
    cwd: str
    uid: int
    gid: int
    groups: list[int]
    scratch: str  # overlays' changes go here
    reachable: list[str]  # paths the user must be able to reach (the interpreter, as an image has it)


def unavailable() -> str | None:
    """Why a pod's file system cannot be made here, or None."""
    if os.geteuid() != 0:
        return "a private mount namespace needs root (CI runs as root)"
    for tool in ("unshare", "mount", "setpriv"):
        if shutil.which(tool) is None:
            return f"{tool} (util-linux) is not installed"
    tried = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True)
    if tried.returncode != 0:
        return f"unshare --mount is refused here: {tried.stderr.decode().strip()}"
    return None


def command(spec: Spec) -> list[str]:
    """The command that runs `spec.argv` in its pod's file system; it becomes that process (same pid)."""
    return ["unshare", "--mount", "--propagation", "private", sys.executable, __file__, json.dumps(asdict(spec))]


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def _overlay(directory: Path, scratch: Path, overlays: list[Path]) -> None:
    """Lets `directory` change in this namespace only: an overlay whose upper layer is in `scratch`."""
    if directory in overlays:
        return
    layer = scratch / f"overlay-{len(overlays)}"
    (layer / "upper").mkdir(parents=True)
    (layer / "work").mkdir()
    options = f"lowerdir={directory},upperdir={layer}/upper,workdir={layer}/work"
    _mount("-t", "overlay", "overlay", "-o", options, str(directory))
    overlays.append(directory)


def _make_mount_point(path: Path, scratch: Path, overlays: list[Path]) -> None:
    existing = path
    while not existing.exists():
        existing = existing.parent
    if existing != path:
        _overlay(existing, scratch, overlays)
        path.mkdir(parents=True)


def _reachable(path: Path, scratch: Path, overlays: list[Path]) -> None:
    """Every directory above `path` searchable by others, as in an image (pyenv under /root is not)."""
    for directory in reversed(path.parents):
        if not directory.stat().st_mode & 0o001:
            _overlay(directory, scratch, overlays)
            directory.chmod(directory.stat().st_mode | 0o011)


def _mount_points() -> list[str]:
    return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]


def main(spec: Spec) -> None:
    scratch = Path(spec.scratch)
    overlays: list[Path] = []
    for path in spec.reachable:
        _reachable(Path(path), scratch, overlays)
    # Writable volumes last: one may cover where the others' sources are (an emptyDir on /tmp).
    volumes = sorted(spec.volumes, key=lambda v: v.writable)
    for volume in volumes:
        _make_mount_point(Path(volume.mount_path), scratch, overlays)
    mounted = []
    for volume in volumes:
        _mount("--bind", volume.source, volume.mount_path)
        if not volume.writable:
            _mount("-o", "remount,bind,ro", volume.mount_path)
        mounted.append(volume.mount_path)
    # Everything else read-only, but the kernel's own file systems (as in a container: /proc, /sys, /dev).
    for point in _mount_points():
        if point not in mounted and not point.startswith(("/proc", "/sys", "/dev")):
            _mount("-o", "remount,bind,ro", point)
    os.chdir(spec.cwd)
    groups = ",".join(str(g) for g in spec.groups) or "-"
    setpriv = ["setpriv", f"--reuid={spec.uid}", f"--regid={spec.gid}", "--no-new-privs", "--bounding-set=-all"]
    setpriv += ["--clear-groups"] if groups == "-" else [f"--groups={groups}"]
    os.execvpe("setpriv", [*setpriv, "--", *spec.argv], spec.env)


if __name__ == "__main__":
    raw = json.loads(sys.argv[1])
    main(Spec(**{**raw, "volumes": [Volume(**v) for v in raw["volumes"]]}))
