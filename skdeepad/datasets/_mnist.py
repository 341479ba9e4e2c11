"""Loader for the MNIST test split, read from the original idx files."""

import gzip
import os

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils._param_validation import validate_params

from ._fetch import fetch_file

_IMAGES = "mnist/t10k-images-idx3-ubyte.gz"
_LABELS = "mnist/t10k-labels-idx1-ubyte.gz"

# idx magic numbers: two zero bytes, the element type (0x08 = unsigned byte)
# and the number of dimensions.
_MAGIC_IMAGES = 0x00000803
_MAGIC_LABELS = 0x00000801


def _read_idx_ubyte(path, magic):
    """Read a gzipped idx file of unsigned bytes into a (writeable) array."""
    try:
        with gzip.open(path, "rb") as f:
            content = f.read()
    except (OSError, EOFError) as exc:
        raise ValueError(f"{path} is not a readable gzip file: {exc}") from exc
    ndim = magic & 0xFF
    header_size = 4 * (1 + ndim)
    if len(content) < header_size:
        raise ValueError(
            f"{path} is too short ({len(content)} bytes) to be an idx file."
        )
    header = np.frombuffer(content, dtype=">u4", count=1 + ndim)
    if header[0] != magic:
        raise ValueError(
            f"{path} starts with the magic number {int(header[0]):#010x}; "
            f"expected {magic:#010x} (idx, unsigned bytes, {ndim}-D)."
        )
    shape = tuple(int(n) for n in header[1:])
    n_values = int(np.prod(shape))
    if len(content) - header_size != n_values:
        raise ValueError(
            f"{path} declares shape {shape} ({n_values} values) but holds "
            f"{len(content) - header_size} bytes of data."
        )
    # np.frombuffer over bytes is read-only; callers get their own copy.
    values = np.frombuffer(content, dtype=np.uint8, offset=header_size)
    return values.reshape(shape).copy()


@validate_params(
    {
        "data_home": [str, os.PathLike, None],
        "download": ["boolean"],
        "return_X_y": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_mnist_test(*, data_home=None, download=True, return_X_y=True):
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
    ValueError
        If a file is not a gzipped idx file of the expected kind (wrong magic
        number, or a size that does not match its header), or if the images
        and labels disagree in number.

    Examples
    --------
    >>> from skdeepad.datasets import load_mnist_test
    >>> X, digits = load_mnist_test()  # doctest: +SKIP
    >>> X.shape, X.dtype  # doctest: +SKIP
    ((10000, 1, 28, 28), dtype('uint8'))
    >>> y = (digits != 0).astype(int)  # doctest: +SKIP
    """
    images_path = fetch_file(_IMAGES, data_home=data_home, download=download)
    labels_path = fetch_file(_LABELS, data_home=data_home, download=download)
    images = _read_idx_ubyte(images_path, _MAGIC_IMAGES)
    labels = _read_idx_ubyte(labels_path, _MAGIC_LABELS)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{images_path} holds {images.shape[0]} images but {labels_path} "
            f"holds {labels.shape[0]} labels."
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
