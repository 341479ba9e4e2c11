"""Loader for the MNIST test split, read from the original idx files."""

import gzip
import os

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils._param_validation import validate_params

from ._fetch import _BadContent, _corrupt, _sha256, fetch_file, read_data_file
from ._registry import SHA256

_IMAGES = "mnist/t10k-images-idx3-ubyte.gz"
_LABELS = "mnist/t10k-labels-idx1-ubyte.gz"

# idx magic numbers: two zero bytes, the element type (0x08 = unsigned byte)
# and the number of dimensions.
_MAGIC_IMAGES = 0x00000803
_MAGIC_LABELS = 0x00000801


def _parse_idx_ubyte(path, magic):
    """Read a gzipped idx file of unsigned bytes into a (writeable) array."""
    with gzip.open(path, "rb") as f:
        content = f.read()
    ndim = magic & 0xFF
    header_size = 4 * (1 + ndim)
    if len(content) < header_size:
        raise _BadContent(f"it is too short ({len(content)} bytes) to be an idx file")
    header = np.frombuffer(content, dtype=">u4", count=1 + ndim)
    if header[0] != magic:
        raise _BadContent(
            f"it starts with the magic number {int(header[0]):#010x}; expected "
            f"{magic:#010x} (idx, unsigned bytes, {ndim}-D)"
        )
    shape = tuple(int(n) for n in header[1:])
    n_values = int(np.prod(shape))
    if len(content) - header_size != n_values:
        raise _BadContent(
            f"it declares shape {shape} ({n_values} values) but holds "
            f"{len(content) - header_size} bytes of data"
        )
    # np.frombuffer over bytes is read-only; callers get their own copy.
    values = np.frombuffer(content, dtype=np.uint8, offset=header_size)
    return values.reshape(shape).copy()


def _read_idx_ubyte(relpath, path, magic):
    return read_data_file(relpath, path, lambda path: _parse_idx_ubyte(path, magic))


@validate_params(
    {
        "data_home": [str, os.PathLike, None],
        "download": ["boolean"],
        "return_X_y": ["boolean"],
        "verify": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_mnist_test(*, data_home=None, download=True, return_X_y=True, verify=False):
    """Load the 10,000 images of the MNIST test split.

    Reads the original idx files ``mnist/t10k-images-idx3-ubyte.gz`` and
    ``mnist/t10k-labels-idx1-ubyte.gz`` from the data home, downloading them
    (with their SHA-256 checked) if they are missing. The pixels are returned
    unscaled as ``uint8``, in the channels-first layout of the image
    networks; divide by 255 for the [0, 1] range the Deep SAD code uses.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Data folder. If None, the ``SKDEEPAD_DATA`` environment variable, else
        ``~/skdeepad_data``.
    download : bool, default=True
        Whether to download the files if they are not in the data home.
    return_X_y : bool, default=True
        If True, return ``(X, y)``; if False, a :class:`~sklearn.utils.Bunch`.
    verify : bool, default=False
        Whether to check the SHA-256 digests of files that are already in the
        data home against the registered ones (downloaded files are always
        checked).

    Returns
    -------
    X : ndarray of shape (10000, 1, 28, 28), dtype uint8
        Grey-level images, 0 (background) to 255.
    y : ndarray of shape (10000,), dtype int64
        Digit labels 0-9 (not anomaly labels: choose the normal digit(s) and
        build a 0/1 anomaly label from them).
    data : :class:`~sklearn.utils.Bunch`
        Returned if ``return_X_y`` is False, with attributes ``data``,
        ``target``, ``DESCR``, ``name`` and ``filename`` (the images file).

    Raises
    ------
    DataNotFoundError
        If a file is missing and cannot be downloaded. Subclass of
        :class:`FileNotFoundError`.
    ChecksumError
        If a downloaded file does not have the registered SHA-256 digest.
    CorruptDataError
        If a file cannot be read: not a complete gzip file, not an idx file
        of the expected kind (wrong magic number, or a size that does not
        match its header), or images and labels that disagree in number; or,
        with ``verify=True``, if a file's SHA-256 digest is not the
        registered one. The message names the file, says whether its digest
        is the registered one and how to replace it. Subclass of
        :class:`ValueError`.

    Examples
    --------
    >>> from skdeepad.datasets import load_mnist_test
    >>> X, digits = load_mnist_test()  # doctest: +SKIP
    >>> X.shape, X.dtype  # doctest: +SKIP
    ((10000, 1, 28, 28), dtype('uint8'))
    >>> y = (digits != 0).astype(int)  # doctest: +SKIP
    """
    images_path = fetch_file(_IMAGES, data_home=data_home, download=download, verify=verify)
    labels_path = fetch_file(_LABELS, data_home=data_home, download=download, verify=verify)
    images = _read_idx_ubyte(_IMAGES, images_path, _MAGIC_IMAGES)
    labels = _read_idx_ubyte(_LABELS, labels_path, _MAGIC_LABELS)
    if images.shape[0] != labels.shape[0]:
        # Each file is well formed on its own: blame the one whose digest is
        # wrong (the labels file if both or neither are).
        paths = {_LABELS: labels_path, _IMAGES: images_path}
        digests = {relpath: _sha256(path) for relpath, path in paths.items()}
        relpath = next((r for r in paths if digests[r] != SHA256[r]), _LABELS)
        raise _corrupt(
            relpath,
            paths[relpath],
            f"{images_path} holds {images.shape[0]} images but {labels_path} "
            f"holds {labels.shape[0]} labels",
            digest=digests[relpath],
        )
    X = images[:, np.newaxis, :, :]
    y = labels.astype(np.int64)
    if return_X_y:
        return X, y
    descr = (
        "MNIST test split\n================\n\n"
        f"{X.shape[0]} handwritten digits, {X.shape[2]}x{X.shape[3]} grey-level "
        "pixels (uint8), with their digit labels 0-9.\n"
        f"- images: {images_path}\n- labels: {labels_path}\n\n"
        "Reference: Y. LeCun, L. Bottou, Y. Bengio and P. Haffner (1998). "
        "Gradient-based learning applied to document recognition. Proceedings "
        "of the IEEE, 86(11), 2278-2324.\n"
    )
    return Bunch(
        data=X, target=y, DESCR=descr, name="mnist_test", filename=str(images_path)
    )
