"""Find a data file in the data home, or download and verify it.

Every file the loaders use is listed in ``_registry.SHA256`` with its SHA-256
digest. :func:`fetch_file` returns the file's path in the data home; if the
file is missing it downloads it from a public mirror into a temporary file
next to its final place, checks the digest and only then renames it into
place, so that an interrupted or corrupted download never leaves a file that
a later call would trust. A file already in the data home is trusted without
re-hashing unless ``verify=True``; when a loader fails to read one,
:func:`read_data_file` hashes it and raises :class:`CorruptDataError`, whose
message says whether the digest is wrong and how to replace the file.

Mirrors are base URLs, one per top-level folder of the data home ("group"):
the file ``<group>/<name>`` is downloaded from ``<base URL>/<name>``. The
base URL of a group is, in order of precedence, the environment variable
``SKDEEPAD_MIRROR_<GROUP>`` (for example ``SKDEEPAD_MIRROR_ODDS``), else
``MIRRORS[<group>]``. Setting either points the loaders at another mirror
(a local copy, a proxy, or a test server).
"""

import hashlib
import http.client
import logging
import os
import secrets
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ._base import DATA_HOME_ENV, DATA_LAYOUT, get_data_home
from ._registry import SHA256

logger = logging.getLogger(__name__)

#: Base URL of the public mirror of each group (top-level folder of the data
#: home). None means "no known mirror": such files must be put in the data
#: home by hand, unless ``SKDEEPAD_MIRROR_<GROUP>`` names a mirror.
MIRRORS = {
    # The ODDS sets (Rayana, 2016) as redistributed by PyOD; byte-identical
    # to the files whose digests are in the registry.
    "odds": "https://raw.githubusercontent.com/yzhao062/pyod/master/notebooks/data",
    # ADBench's classical tabular sets (Han et al., 2022).
    "adbench": (
        "https://github.com/Minqi824/ADBench/raw/main/adbench/datasets/Classical"
    ),
    # The original MNIST files, mirrored by the PyTorch project.
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist",
    # The project's abalone.csv (UCI Abalone with a header row) is not
    # served byte-for-byte by any public mirror known to us.
    "uci": None,
}

# The built-in mirrors, to tell a user override from the default.
_DEFAULT_MIRRORS = dict(MIRRORS)

#: Prefix of the environment variables that override ``MIRRORS``.
MIRROR_ENV_PREFIX = "SKDEEPAD_MIRROR_"

# Files that the default mirror of their group does not serve with the
# registered digest, with the reason given to the user. A mirror set by the
# user (environment variable or ``MIRRORS``) is tried for them all the same.
_NO_DEFAULT_MIRROR = {
    "odds/thyroid.mat": (
        "this thyroid.mat was converted from ADBench's 38_thyroid.npz and no "
        "public mirror serves it; load_odds('thyroid') reads "
        "adbench/38_thyroid.npz instead when it is missing"
    ),
    "uci/abalone.csv": (
        "no public mirror serves this abalone.csv, the UCI Abalone data with "
        "the header row Sex,Length,Diameter,Height,Whole_weight,"
        "Shucked_weight,Viscera_weight,Shell_weight,Class where Class is the "
        "number of rings"
    ),
}

#: Seconds to wait for the server before a download is abandoned.
DOWNLOAD_TIMEOUT = 60

_CHUNK_SIZE = 1 << 16


class DataNotFoundError(FileNotFoundError):
    """A data file is not in the data home and could not be downloaded.

    Raised when ``download=False`` was given, when no mirror is known for the
    file, or when the download failed (no network, server error). The message
    names the file, the URL to download it from and the full path where to
    save it. Subclass of :class:`FileNotFoundError`.
    """


class ChecksumError(OSError):
    """A downloaded file's SHA-256 digest differs from the registered one.

    The downloaded bytes are deleted; nothing is saved in the data home. The
    message names the file, the URL, and the expected and received digests.
    Subclass of :class:`OSError`.
    """


class CorruptDataError(ValueError):
    """A data file in the data home cannot be read or is not the registered file.

    Raised when a loader fails to read a file that is in the data home
    (truncated, empty, garbage, or holding the wrong content), and by
    ``verify=True`` when the file's SHA-256 digest differs from the
    registered one. The file is hashed when this happens, and the message
    names the file, says whether its digest is the registered one and how to
    fix it: delete the file so that the next load downloads it again, or put
    a good copy in its place. The file itself is left alone (a data home may
    be shared). Subclass of :class:`ValueError`.

    Attributes
    ----------
    relpath : str or None
        The file's path relative to the data home, e.g. ``"odds/cardio.mat"``.
    path : pathlib.Path or None
        Its full path.
    checksum_ok : bool or None
        Whether the file's SHA-256 digest is the registered one; None if it
        could not be computed.
    """

    def __init__(self, message, relpath=None, path=None, checksum_ok=None):
        super().__init__(message)
        self.relpath = relpath
        self.path = path
        self.checksum_ok = checksum_ok


class _BadContent(ValueError):
    """A reader's complaint about a file's content (the message says what)."""


def mirror_url(relpath):
    """Return the URL to download a registered file from, or None.

    Parameters
    ----------
    relpath : str
        Path of the file relative to the data home, e.g. ``"odds/cardio.mat"``.

    Returns
    -------
    url : str or None
        None if no mirror is known for the file.
    """
    group, _, name = relpath.partition("/")
    base = os.environ.get(MIRROR_ENV_PREFIX + group.upper()) or MIRRORS.get(group)
    if base is None:
        return None
    if base == _DEFAULT_MIRRORS.get(group) and relpath in _NO_DEFAULT_MIRROR:
        return None
    return base.rstrip("/") + "/" + urllib.parse.quote(name)


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK_SIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _not_found(relpath, data_home, target, url, reason):
    """Build the error for a missing file, saying how to get it."""
    group = relpath.partition("/")[0]
    message = [f"Data file {relpath!r} is not in the data home {data_home} ({reason})."]
    if url is not None:
        message.append(f"Download it from {url} and save it as {target}")
    else:
        why = _NO_DEFAULT_MIRROR.get(relpath, "no mirror is configured for it")
        message.append(
            f"It cannot be downloaded automatically: {why}. Obtain the file "
            f"and save it as {target}"
        )
    message[-1] += (
        f" (its SHA-256 is {SHA256[relpath]}), or set the {DATA_HOME_ENV} "
        "environment variable (or pass data_home=...) to a folder that holds "
        f"the data files in this layout: {DATA_LAYOUT}."
    )
    if url is None:
        message.append(
            f"A mirror that serves it can be named with the "
            f"{MIRROR_ENV_PREFIX}{group.upper()} environment variable."
        )
    return DataNotFoundError(" ".join(message))


def _corrupt(relpath, path, problem, digest=None):
    """Build the error for a file in the data home that is unusable.

    ``digest`` is the file's SHA-256 if the caller has it; else it is
    computed here, so that the message can say whether the file is damaged.
    """
    expected = SHA256[relpath]
    if digest is None:
        try:
            digest = _sha256(path)
        except OSError as exc:
            digest = exc
    if isinstance(digest, OSError):
        checksum_ok = None
        head = f"Data file {relpath!r} at {path} could not be read: {problem}."
        checksum = f"Its SHA-256 could not be computed either ({digest})."
    elif digest == expected:
        checksum_ok = True
        head = f"Data file {relpath!r} at {path} could not be read: {problem}."
        checksum = (
            "Its SHA-256 is the registered one, so the file itself is intact: "
            "reading it failed for another reason (an incompatible version of "
            "numpy or scipy?). Please report this."
        )
    else:
        checksum_ok = False
        head = f"Data file {relpath!r} at {path} is corrupt: {problem}."
        checksum = (
            f"Its SHA-256 is {digest}, not the registered one: the file is "
            "damaged (an interrupted or truncated copy, for example) or is not "
            "the file the package expects."
        )
    message = [head, checksum]
    if checksum_ok is not True:
        url = mirror_url(relpath)
        if url is not None:
            message.append(
                "Delete it so that the next load (with download=True) downloads "
                f"it again from {url}, or replace it with a good copy (SHA-256 "
                f"{expected})."
            )
        else:
            why = _NO_DEFAULT_MIRROR.get(relpath, "no mirror is configured for it")
            message.append(
                f"Replace it with a good copy (SHA-256 {expected}); it cannot be "
                f"downloaded automatically: {why}."
            )
        message.append(
            f"If the data home is shared, ask whoever maintains it, or point "
            f"data_home (or {DATA_HOME_ENV}) at a folder with good copies."
        )
    return CorruptDataError(
        " ".join(message), relpath=relpath, path=path, checksum_ok=checksum_ok
    )


def read_data_file(relpath, path, reader):
    """Return ``reader(path)``, turning any failure to read into CorruptDataError.

    Parameters
    ----------
    relpath : str
        The registered name of the file (a key of the registry).
    path : path-like
        The file in the data home.
    reader : callable
        Parses the file; raises any exception if it cannot.

    Raises
    ------
    CorruptDataError
        If ``reader`` fails. The file is hashed, and the message says whether
        its SHA-256 is the registered one and how to replace it. A
        :class:`PermissionError` or :class:`MemoryError` is not a sign of a
        corrupt file and propagates unchanged.
    """
    try:
        return reader(path)
    except (CorruptDataError, PermissionError, MemoryError):
        raise
    except Exception as exc:
        if isinstance(exc, _BadContent):
            problem = str(exc)
        else:
            problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise _corrupt(relpath, Path(path), problem) from exc


def _new_part_file(target):
    """Create and open an empty, uniquely named temporary file beside ``target``.

    Unlike :func:`tempfile.mkstemp` (always mode 0600), the file is created
    with mode 0666 minus the process umask, as any ordinary new file, so that
    other users of a shared data home can read what is downloaded into it.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = target.parent / f".{target.name}.{secrets.token_hex(8)}.part"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:  # pragma: no cover - 64 random bits
            continue


def _download(url, relpath, target, expected):
    """Stream ``url`` into a temporary file beside ``target``, verify, rename."""
    fd, tmp = _new_part_file(target)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
                for chunk in iter(lambda: response.read(_CHUNK_SIZE), b""):
                    digest.update(chunk)
                    out.write(chunk)
        received = digest.hexdigest()
        if received != expected:
            raise ChecksumError(
                f"The file downloaded from {url} for {relpath!r} has SHA-256 "
                f"{received}, but {expected} was expected. It was deleted and "
                f"nothing was saved as {target}. The download may have been "
                "corrupted or the mirror may now serve a different version of "
                "the file: try again, or download the file yourself and save "
                "it at that path."
            )
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fetch_file(relpath, data_home=None, download=True, verify=False):
    """Return the path of a data file, downloading it if it is missing.

    The file is looked for at ``<data_home>/<relpath>``. If it is there it is
    used as it is, unless ``verify`` is True: by default existing files are
    not re-hashed, so that loading stays fast and a folder prepared by hand
    (for example with a file converted from another source) keeps working.
    If it is missing and ``download`` is True, it is downloaded from the
    mirror of its group (see :func:`mirror_url`) into a temporary file in the
    same folder, its SHA-256 digest is checked against the registry, and it
    is then renamed into place atomically, with the permissions of any new
    file (mode 0666 minus the umask).

    Parameters
    ----------
    relpath : str
        Path of the file relative to the data home, with ``/`` separators,
        e.g. ``"odds/cardio.mat"``. Must be a key of the registry.
    data_home : str or path-like, default=None
        Data folder; see :func:`skdeepad.datasets.get_data_home`.
    download : bool, default=True
        Whether to download the file if it is missing.
    verify : bool, default=False
        Whether to check the SHA-256 digest of a file that is already in the
        data home (a downloaded file is always checked).

    Returns
    -------
    path : pathlib.Path
        Absolute path of the (now present) file.

    Raises
    ------
    ValueError
        If ``relpath`` is not a registered data file.
    DataNotFoundError
        If the file is missing and cannot be downloaded: ``download=False``,
        no known mirror, network or server failure, or a data home that
        cannot be written to. The message names the file, the URL and the
        full path where to save it. Subclass of :class:`FileNotFoundError`.
    ChecksumError
        If the downloaded bytes do not have the registered SHA-256 digest.
        Nothing is kept in the data home. Subclass of :class:`OSError`.
    CorruptDataError
        If ``verify`` is True and the existing file's digest is not the
        registered one. The file is left in place; the message says how to
        replace it. Subclass of :class:`ValueError`.
    """
    if relpath not in SHA256:
        raise ValueError(
            f"Unknown data file {relpath!r}. Known files are: "
            f"{', '.join(sorted(SHA256))}."
        )
    data_home = get_data_home(data_home).absolute()
    target = data_home.joinpath(*relpath.split("/"))
    if target.is_file():
        if verify:
            digest = _sha256(target)
            if digest != SHA256[relpath]:
                raise _corrupt(
                    relpath,
                    target,
                    "its SHA-256 does not match (checked because verify=True)",
                    digest=digest,
                )
        return target

    url = mirror_url(relpath)
    if not download:
        raise _not_found(relpath, data_home, target, url, "download=False was given")
    if url is None:
        raise _not_found(relpath, data_home, target, url, "no download mirror")

    # Folders this call creates, deepest last, removed again on failure.
    created = [folder for folder in target.parents if not folder.exists()][::-1]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _not_found(
            relpath, data_home, target, url, f"cannot create {target.parent}: {exc}"
        ) from exc
    logger.info("Downloading %s from %s to %s", relpath, url, target)
    try:
        _download(url, relpath, target, SHA256[relpath])
    except BaseException as exc:
        for folder in reversed(created):
            try:
                folder.rmdir()
            except OSError:
                break
        if isinstance(exc, (OSError, ValueError, http.client.HTTPException)) and not (
            isinstance(exc, ChecksumError)
        ):
            # OSError covers URLError/HTTPError, timeouts, refused connections
            # and an unwritable folder; ValueError a malformed mirror URL.
            raise _not_found(
                relpath, data_home, target, url, f"downloading it failed: {exc}"
            ) from exc
        raise
    return target
