"""Loaders for the tabular benchmark sets: ODDS, ADBench and UCI Abalone."""

import csv
import os
import re

import numpy as np
import scipy.io
from sklearn.utils import Bunch
from sklearn.utils._param_validation import validate_params

from ._fetch import DataNotFoundError, _BadContent, fetch_file, read_data_file
from ._registry import SHA256

# Where each ODDS set comes from, in one line (ODDS builds every set from a
# multi-class data set by declaring some classes, often downsampled, to be
# the outliers).
_ODDS_ORIGIN = {
    "arrhythmia": "the UCI Arrhythmia data (ECG recordings)",
    "cardio": "the UCI Cardiotocography data (fetal heart rate recordings)",
    "glass": "the UCI Glass Identification data",
    "ionosphere": "the UCI Ionosphere radar data",
    "letter": "the UCI Letter Recognition data",
    "lympho": "the UCI Lymphography data",
    "mnist": "MNIST digit images (100 of the pixel features)",
    "musk": "the UCI Musk (version 2) molecule data",
    "optdigits": "the UCI Optical Recognition of Handwritten Digits data",
    "pendigits": "the UCI Pen-Based Recognition of Handwritten Digits data",
    "pima": "the Pima Indians Diabetes data",
    "satellite": "the UCI Statlog (Landsat Satellite) data",
    "satimage-2": "the UCI Statlog (Landsat Satellite) data",
    "shuttle": "the UCI Statlog (Shuttle) data",
    "thyroid": "the UCI Thyroid Disease data (6 real-valued features)",
    "vertebral": "the UCI Vertebral Column data",
    "vowels": "the UCI Japanese Vowels data",
    "wbc": "the UCI Breast Cancer Wisconsin (Diagnostic) data",
}

_ODDS_REFERENCE = (
    "Shebuti Rayana (2016). ODDS Library. Stony Brook University, Department "
    "of Computer Sciences. https://odds.cs.stonybrook.edu"
)
_ADBENCH_REFERENCE = (
    "Songqiao Han, Xiyang Hu, Hailiang Huang, Minqi Jiang and Yue Zhao "
    "(2022). ADBench: Anomaly Detection Benchmark. NeurIPS 2022 Datasets and "
    "Benchmarks Track."
)

# ADBench "classical" sets that the ADBench repository lists but the
# registry leaves out (too large to mirror, or not in the repository).
_ADBENCH_NOT_INCLUDED = {"backdoor", "census", "fraud", "speech"}

_THYROID_NPZ = "adbench/38_thyroid.npz"


def _odds_names():
    return sorted(
        key[len("odds/") : -len(".mat")] for key in SHA256 if key.startswith("odds/")
    )


def _adbench_files():
    """Map lower-cased ADBench names, with and without prefix, to files."""
    files = {}
    for key in SHA256:
        if key.startswith("adbench/"):
            stem = key[len("adbench/") : -len(".npz")]
            files[stem.lower()] = key
            files[stem.split("_", 1)[1].lower()] = key
    return files


def list_odds():
    """Return the names of the ODDS sets :func:`load_odds` can load.

    Returns
    -------
    names : list of str
        Sorted dataset names, e.g. ``"cardio"``.

    See Also
    --------
    load_odds : Load one of these sets.

    Examples
    --------
    >>> from skdeepad.datasets import list_odds
    >>> "satimage-2" in list_odds()
    True
    """
    return _odds_names()


def list_adbench():
    """Return the names of the ADBench sets :func:`load_adbench` can load.

    Returns
    -------
    names : list of str
        ADBench file names without extension (``"<k>_<name>"``), sorted by
        their ADBench number ``k``.

    See Also
    --------
    load_adbench : Load one of these sets.

    Examples
    --------
    >>> from skdeepad.datasets import list_adbench
    >>> list_adbench()[:3]
    ['1_ALOI', '2_annthyroid', '4_breastw']
    """
    stems = [
        key[len("adbench/") : -len(".npz")]
        for key in SHA256
        if key.startswith("adbench/")
    ]
    return sorted(stems, key=lambda stem: (int(stem.split("_", 1)[0]), stem))


def _checked_arrays(X, y):
    """Convert a file's arrays to float64 X (n, d) and int64 y (n,) in {0, 1}."""
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2 or y.ndim not in (1, 2) or (y.ndim == 2 and 1 not in y.shape):
        raise _BadContent(
            f"it holds X of shape {X.shape} and y of shape {y.shape}; expected a "
            "2-D X (n_samples, n_features) and a 1-D y"
        )
    y = y.ravel()
    if y.shape[0] != X.shape[0]:
        raise _BadContent(f"it holds {X.shape[0]} rows in X but {y.shape[0]} labels in y")
    if not np.all(np.isin(y, (0, 1))):
        raise _BadContent(
            f"it has labels {np.unique(y).tolist()} in y; expected only 0 (normal) "
            "and 1 (outlier)"
        )
    return X.astype(np.float64), y.astype(np.int64)


def _parse_mat(path):
    try:
        contents = scipy.io.loadmat(path)
    except NotImplementedError as exc:
        # scipy reads MATLAB files up to v7; v7.3 files are HDF5 containers.
        raise _BadContent(
            "it is a MATLAB v7.3 (HDF5) file, which scipy.io.loadmat cannot read; "
            "save it again in an older format (in MATLAB: save(name, 'X', 'y', "
            "'-v7')) or use the copy from the mirror"
        ) from exc
    missing = {"X", "y"} - set(contents)
    if missing:
        raise _BadContent(
            f"it has no variable(s) {sorted(missing)}; an ODDS file must hold the "
            "data matrix in 'X' and the 0/1 outlier labels in 'y'"
        )
    return _checked_arrays(contents["X"], contents["y"])


def _parse_npz(path):
    # allow_pickle=False: the files hold plain arrays, and a data file must
    # never be able to run code when it is loaded.
    contents = np.load(path, allow_pickle=False)
    if not isinstance(contents, np.lib.npyio.NpzFile):
        raise _BadContent("it holds a single .npy array, not an .npz archive")
    with contents:
        missing = {"X", "y"} - set(contents.files)
        if missing:
            raise _BadContent(
                f"it has no array(s) {sorted(missing)}; an ADBench file must hold "
                "the data matrix in 'X' and the 0/1 labels in 'y'"
            )
        return _checked_arrays(contents["X"], contents["y"])


def _read_mat(relpath, path):
    return read_data_file(relpath, path, _parse_mat)


def _read_npz(relpath, path):
    return read_data_file(relpath, path, _parse_npz)


def _describe(title, origin, X, y, path, reference, extra=""):
    n_outliers = int(y.sum())
    return (
        f"{title}\n{'=' * len(title)}\n\n"
        f"Anomaly detection benchmark set built from {origin}.\n\n"
        f"- samples: {X.shape[0]}\n"
        f"- features: {X.shape[1]}\n"
        f"- outliers (y == 1): {n_outliers} "
        f"({100 * n_outliers / max(X.shape[0], 1):.1f} %)\n"
        f"- file: {path}\n{extra}\n"
        f"Reference: {reference}\n"
    )


_LOADER_CONSTRAINTS = {
    "name": [str],
    "data_home": [str, os.PathLike, None],
    "download": ["boolean"],
    "return_X_y": ["boolean"],
    "verify": ["boolean"],
}


@validate_params(_LOADER_CONSTRAINTS, prefer_skip_nested_validation=True)
def load_odds(name, *, data_home=None, download=True, return_X_y=True, verify=False):
    """Load an ODDS outlier detection benchmark set.

    The ODDS library (Rayana, 2016) turns multi-class data sets into outlier
    detection tasks; the Deep SAD paper's tabular experiments (its Table 1:
    arrhythmia, cardio, satellite, satimage-2, shuttle, thyroid) use them.
    The file ``odds/<name>.mat`` is read from the data home and downloaded
    from the PyOD repository's copy of ODDS, with its SHA-256 checked, if it
    is missing.

    Read more in :func:`get_data_home` about where files are looked for.

    Parameters
    ----------
    name : str
        Dataset name, case-insensitive; one of :func:`list_odds`: arrhythmia,
        cardio, glass, ionosphere, letter, lympho, mnist, musk, optdigits,
        pendigits, pima, satellite, satimage-2, shuttle, thyroid, vertebral,
        vowels, wbc.
    data_home : str or path-like, default=None
        Data folder. If None, the ``SKDEEPAD_DATA`` environment variable, else
        ``~/skdeepad_data``.
    download : bool, default=True
        Whether to download the file if it is not in the data home.
    return_X_y : bool, default=True
        If True, return ``(X, y)``; if False, a :class:`~sklearn.utils.Bunch`.
    verify : bool, default=False
        Whether to check the SHA-256 digest of a file that is already in the
        data home against the registered one (a downloaded file is always
        checked). Off by default: hashing costs time on every load, and a
        folder prepared by hand keeps working.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), dtype float64
        The data. Returned if ``return_X_y`` is True.
    y : ndarray of shape (n_samples,), dtype int64
        1 for an outlier, 0 for a normal sample, as ODDS ships it (note that
        this is not the +1/-1 of ``predict``). Returned if ``return_X_y`` is
        True.
    data : :class:`~sklearn.utils.Bunch`
        Returned if ``return_X_y`` is False, with attributes

        data : ndarray of shape (n_samples, n_features)
            ``X`` as above.
        target : ndarray of shape (n_samples,)
            ``y`` as above.
        feature_names : None
            ODDS files carry no feature names.
        DESCR : str
            Description of the set: origin, size, outlier count, reference.
        name : str
            The dataset name, lower case.
        filename : str
            Path of the file the data was read from.

    Raises
    ------
    ValueError
        If ``name`` is not an ODDS set, listing the available names.
    CorruptDataError
        If the file in the data home cannot be read (truncated, empty or
        garbage bytes, a MATLAB v7.3 file, missing ``X``/``y``, labels other
        than 0/1), or, with ``verify=True``, if its SHA-256 digest is not the
        registered one. The message names the file, says whether its digest
        is the registered one and how to replace it. Subclass of
        :class:`ValueError`.
    DataNotFoundError
        If the file is missing and cannot be downloaded. The message names
        the file, the URL and where to save it. Subclass of
        :class:`FileNotFoundError`.
    ChecksumError
        If a downloaded file does not have the registered SHA-256 digest.

    See Also
    --------
    list_odds : Names accepted by this function.
    load_adbench : The ADBench versions of many of the same sets.
    make_semisupervised_split : The Deep SAD paper's train/test protocol.

    Notes
    -----
    ``thyroid``: the registered ``odds/thyroid.mat`` was converted from
    ADBench's ``38_thyroid.npz`` and no public mirror serves that exact file.
    When ``odds/thyroid.mat`` is not in the data home, the data is read from
    ``adbench/38_thyroid.npz`` instead (downloaded and verified if needed);
    both hold the same 3772 x 6 matrix and 93 outliers.

    References
    ----------
    .. [1] S. Rayana (2016). ODDS Library. Stony Brook University.
       https://odds.cs.stonybrook.edu

    Examples
    --------
    >>> from skdeepad.datasets import load_odds
    >>> X, y = load_odds("cardio")  # doctest: +SKIP
    >>> X.shape, int(y.sum())  # doctest: +SKIP
    ((1831, 21), 176)
    """
    names = _odds_names()
    key = name.lower()
    if key.endswith(".mat"):
        key = key[: -len(".mat")]
    if key not in names:
        raise ValueError(
            f"Unknown ODDS dataset {name!r}. Available: {', '.join(names)}."
        )

    relpath = f"odds/{key}.mat"
    if key == "thyroid":
        path, X, y = _load_thyroid(data_home, download, verify)
    else:
        path = fetch_file(relpath, data_home=data_home, download=download, verify=verify)
        X, y = _read_mat(relpath, path)
    if return_X_y:
        return X, y
    return Bunch(
        data=X,
        target=y,
        feature_names=None,
        DESCR=_describe(f"ODDS {key}", _ODDS_ORIGIN[key], X, y, path, _ODDS_REFERENCE),
        name=key,
        filename=str(path),
    )


def _load_thyroid(data_home, download, verify):
    """Read ODDS thyroid from odds/thyroid.mat, else from ADBench's copy."""
    try:
        path = fetch_file(
            "odds/thyroid.mat", data_home=data_home, download=False, verify=verify
        )
    except DataNotFoundError:
        pass
    else:
        return (path, *_read_mat("odds/thyroid.mat", path))
    try:
        path = fetch_file(
            _THYROID_NPZ, data_home=data_home, download=download, verify=verify
        )
    except DataNotFoundError as exc:
        raise DataNotFoundError(
            "ODDS thyroid is read from odds/thyroid.mat if that file is in the "
            f"data home, else from {_THYROID_NPZ}; neither is available. "
            f"{exc}"
        ) from exc
    return (path, *_read_npz(_THYROID_NPZ, path))


@validate_params(_LOADER_CONSTRAINTS, prefer_skip_nested_validation=True)
def load_adbench(
    name, *, data_home=None, download=True, return_X_y=True, verify=False
):
    """Load one of ADBench's classical tabular anomaly detection sets.

    ADBench (Han et al., 2022) collects 47 classical tabular anomaly
    detection sets; 43 of them are available here (backdoor, census, fraud
    and speech are not). The file ``adbench/<k>_<name>.npz`` is read from the
    data home and downloaded from the ADBench repository, with its SHA-256
    checked, if it is missing.

    Parameters
    ----------
    name : str
        Dataset name with or without ADBench's number prefix,
        case-insensitive: ``"cardio"``, ``"6_cardio"`` and ``"Cardio"`` all
        name ``6_cardio.npz``. One of :func:`list_adbench`.
    data_home : str or path-like, default=None
        Data folder. If None, the ``SKDEEPAD_DATA`` environment variable, else
        ``~/skdeepad_data``.
    download : bool, default=True
        Whether to download the file if it is not in the data home.
    return_X_y : bool, default=True
        If True, return ``(X, y)``; if False, a :class:`~sklearn.utils.Bunch`.
    verify : bool, default=False
        Whether to check the SHA-256 digest of a file that is already in the
        data home against the registered one (a downloaded file is always
        checked). Off by default: hashing costs time on every load, and a
        folder prepared by hand keeps working.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), dtype float64
        The data. Returned if ``return_X_y`` is True.
    y : ndarray of shape (n_samples,), dtype int64
        1 for an anomaly, 0 for a normal sample. Returned if ``return_X_y``
        is True.
    data : :class:`~sklearn.utils.Bunch`
        Returned if ``return_X_y`` is False, with attributes ``data``,
        ``target``, ``feature_names`` (None), ``DESCR``, ``name`` (the
        ADBench file stem, e.g. ``"6_cardio"``) and ``filename``.

    Raises
    ------
    ValueError
        If ``name`` is not an available ADBench set, listing the available
        names.
    CorruptDataError
        If the file in the data home cannot be read or is malformed, or, with
        ``verify=True``, if its SHA-256 digest is not the registered one.
        Subclass of :class:`ValueError`.
    DataNotFoundError
        If the file is missing and cannot be downloaded. Subclass of
        :class:`FileNotFoundError`.
    ChecksumError
        If a downloaded file does not have the registered SHA-256 digest.

    See Also
    --------
    list_adbench : Names accepted by this function.
    load_odds : The ODDS sets used by the Deep SAD paper.

    References
    ----------
    .. [1] S. Han, X. Hu, H. Huang, M. Jiang and Y. Zhao (2022). ADBench:
       Anomaly Detection Benchmark. NeurIPS 2022.

    Examples
    --------
    >>> from skdeepad.datasets import load_adbench
    >>> X, y = load_adbench("6_cardio")  # doctest: +SKIP
    >>> X.shape, int(y.sum())  # doctest: +SKIP
    ((1831, 21), 176)
    """
    files = _adbench_files()
    key = name.lower()
    if key.endswith(".npz"):
        key = key[: -len(".npz")]
    if key not in files:
        bare = re.sub(r"^\d+_", "", key)
        hint = (
            f" ADBench's {bare!r} set is not available in skdeepad."
            if bare in _ADBENCH_NOT_INCLUDED
            else ""
        )
        raise ValueError(
            f"Unknown ADBench dataset {name!r}.{hint} Available (with or "
            f"without the number prefix): {', '.join(list_adbench())}."
        )
    relpath = files[key]
    path = fetch_file(relpath, data_home=data_home, download=download, verify=verify)
    X, y = _read_npz(relpath, path)
    if return_X_y:
        return X, y
    stem = relpath[len("adbench/") : -len(".npz")]
    return Bunch(
        data=X,
        target=y,
        feature_names=None,
        DESCR=_describe(
            f"ADBench {stem}",
            f"ADBench's {stem.split('_', 1)[1]} data",
            X,
            y,
            path,
            _ADBENCH_REFERENCE,
        ),
        name=stem,
        filename=str(path),
    )


# DROCC's abalone preprocessing encodes sex as an ordinal number.
_ABALONE_SEX = {"M": 0.0, "F": 1.0, "I": 2.0}
_ABALONE = "uci/abalone.csv"
_ABALONE_FEATURES = [
    "Sex",
    "Length",
    "Diameter",
    "Height",
    "Whole_weight",
    "Shucked_weight",
    "Viscera_weight",
    "Shell_weight",
]


def _parse_abalone(path):
    X, y = [], []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = [column.strip() for column in next(reader, [])]
        if header != _ABALONE_FEATURES + ["Class"]:
            raise _BadContent(
                f"it has the header {header}; expected {_ABALONE_FEATURES + ['Class']}"
            )
        for row in reader:
            if not row:
                continue
            try:
                if len(row) != 9:
                    raise ValueError(f"{len(row)} fields instead of 9")
                X.append([_ABALONE_SEX[row[0].strip()], *map(float, row[1:8])])
                y.append(int(row[8]))
            except (KeyError, ValueError) as exc:
                raise _BadContent(
                    f"line {reader.line_num} is malformed ({exc!r}): expected Sex in "
                    "M/F/I, seven numbers and an integer number of rings"
                ) from exc
    return np.array(X, dtype=np.float64).reshape(-1, 8), np.array(y, dtype=np.int64)


@validate_params(
    {
        "data_home": [str, os.PathLike, None],
        "download": ["boolean"],
        "return_X_y": ["boolean"],
        "verify": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_abalone(*, data_home=None, download=True, return_X_y=True, verify=False):
    """Load the UCI Abalone data (features and number of rings).

    Reads ``uci/abalone.csv`` from the data home: the 4177 abalones of the
    UCI data set, with a header row and the number of rings in the column
    ``Class``. This is the raw regression data, not yet an anomaly task: the
    DROCC paper makes one by keeping rings 8, 9 and 10 as normal and rings 3
    and 21 as anomalies and discarding the rest. No public mirror serves this
    exact file, so it must be put in the data home by hand.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Data folder. If None, the ``SKDEEPAD_DATA`` environment variable, else
        ``~/skdeepad_data``.
    download : bool, default=True
        Whether to try to download the file if it is missing. Only effective
        if ``SKDEEPAD_MIRROR_UCI`` names a mirror that serves the file.
    return_X_y : bool, default=True
        If True, return ``(X, y)``; if False, a :class:`~sklearn.utils.Bunch`.
    verify : bool, default=False
        Whether to check the SHA-256 digest of a file that is already in the
        data home against the registered one (a downloaded file is always
        checked). Off by default: hashing costs time on every load, and a
        folder prepared by hand keeps working.

    Returns
    -------
    X : ndarray of shape (4177, 8), dtype float64
        Sex (encoded M=0, F=1, I=2, as DROCC's preprocessing does), length,
        diameter, height, whole, shucked, viscera and shell weight.
    y : ndarray of shape (4177,), dtype int64
        Number of rings (the age in years is about rings + 1.5).
    data : :class:`~sklearn.utils.Bunch`
        Returned if ``return_X_y`` is False, with attributes ``data``,
        ``target``, ``feature_names``, ``DESCR``, ``name`` and ``filename``.

    Raises
    ------
    DataNotFoundError
        If the file is not in the data home, saying where to put it.
    CorruptDataError
        If the file cannot be read or does not have the expected columns or
        values, or, with ``verify=True``, if its SHA-256 digest is not the
        registered one. Subclass of :class:`ValueError`.

    Examples
    --------
    >>> from skdeepad.datasets import load_abalone
    >>> X, rings = load_abalone()  # doctest: +SKIP
    >>> normal = (rings >= 8) & (rings <= 10)  # doctest: +SKIP
    >>> anomaly = (rings == 3) | (rings == 21)  # doctest: +SKIP
    """
    path = fetch_file(_ABALONE, data_home=data_home, download=download, verify=verify)
    X, y = read_data_file(_ABALONE, path, _parse_abalone)
    if return_X_y:
        return X, y
    descr = (
        "UCI Abalone\n===========\n\n"
        "Physical measurements of 4177 abalones and their number of rings.\n"
        f"- features: {', '.join(_ABALONE_FEATURES)} (Sex encoded M=0, F=1, "
        "I=2)\n- target: number of rings\n"
        f"- file: {path}\n\n"
        "Reference: W. Nash, T. Sellers, S. Talbot, A. Cawthorn and W. Ford "
        "(1994). Abalone. UCI Machine Learning Repository.\n"
    )
    return Bunch(
        data=X,
        target=y,
        feature_names=list(_ABALONE_FEATURES),
        DESCR=descr,
        name="abalone",
        filename=str(path),
    )
