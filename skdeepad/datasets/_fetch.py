"""Find a data file in the data home, or download and verify it.

Every file the loaders use is listed in ``_registry.SHA256`` with its SHA-256
digest. :func:`fetch_file` returns the file's path in the data home; if the
file is missing it downloads it from a public mirror into a temporary file
next to its final place, checks the digest and only then renames it into
place, so that an interrupted or corrupted download never leaves a file that
a later call would trust.

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
import tempfile
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


def _download(url, relpath, target, expected):
    """Stream ``url`` into a temporary file beside ``target``, verify, rename."""
    fd, tmp = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".part"
    )
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


def fetch_file(relpath, data_home=None, download=True):
    """Return the path of a data file, downloading it if it is missing.

    The file is looked for at ``<data_home>/<relpath>``. If it is there it is
    used as it is: existing files are not re-hashed, so that a folder
    prepared by hand (for example with a file converted from another source)
    keeps working. If it is missing and ``download`` is True, it is downloaded
    from the mirror of its group (see :func:`mirror_url`) into a temporary
    file in the same folder, its SHA-256 digest is checked against the
    registry, and it is then renamed into place atomically.

    Parameters
    ----------
    relpath : str
        Path of the file relative to the data home, with ``/`` separators,
        e.g. ``"odds/cardio.mat"``. Must be a key of the registry.
    data_home : str or path-like, default=None
        Data folder; see :func:`skdeepad.datasets.get_data_home`.
    download : bool, default=True
        Whether to download the file if it is missing.

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
    """
    if relpath not in SHA256:
        raise ValueError(
            f"Unknown data file {relpath!r}. Known files are: "
            f"{', '.join(sorted(SHA256))}."
        )
    data_home = get_data_home(data_home).absolute()
    target = data_home.joinpath(*relpath.split("/"))
    if target.is_file():
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
