"""The data home: where the loaders look for (and save) data files."""

import os
from pathlib import Path

from sklearn.utils._param_validation import validate_params

#: Environment variable that points the loaders at a data folder.
DATA_HOME_ENV = "SKDEEPAD_DATA"

#: Data home used when neither ``data_home`` nor ``SKDEEPAD_DATA`` is given.
DEFAULT_DATA_HOME = "~/skdeepad_data"

#: One line per folder of the data home, used in error messages and docs.
DATA_LAYOUT = (
    "odds/<name>.mat, adbench/<k>_<name>.npz, uci/abalone.csv, "
    "mnist/t10k-images-idx3-ubyte.gz and mnist/t10k-labels-idx1-ubyte.gz"
)


@validate_params(
    {"data_home": [str, os.PathLike, None]},
    prefer_skip_nested_validation=True,
)
def get_data_home(data_home=None):
    """Return the folder where the data loaders look for data files.

    The folder is, in order of precedence, ``data_home`` if given, else the
    value of the ``SKDEEPAD_DATA`` environment variable if it is set and not
    empty, else ``~/skdeepad_data``. A leading ``~`` is expanded. The folder
    is not created here; a loader creates it when it first downloads a file.

    The loaders expect the files in this layout (the one of the shared data
    folder used in the project's continuous integration)::

        <data_home>/odds/<name>.mat                 ODDS sets (load_odds)
        <data_home>/adbench/<k>_<name>.npz          ADBench sets (load_adbench)
        <data_home>/uci/abalone.csv                 UCI Abalone (load_abalone)
        <data_home>/mnist/t10k-images-idx3-ubyte.gz MNIST test split
        <data_home>/mnist/t10k-labels-idx1-ubyte.gz (load_mnist_test)

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder to use. If None, ``SKDEEPAD_DATA`` or ``~/skdeepad_data``.

    Returns
    -------
    data_home : pathlib.Path
        The data folder, with ``~`` expanded. It may not exist yet.

    See Also
    --------
    load_odds : Load an ODDS benchmark set from the data home.

    Examples
    --------
    >>> from skdeepad.datasets import get_data_home
    >>> str(get_data_home("/tmp/my_data"))
    '/tmp/my_data'
    """
    if data_home is None:
        data_home = os.environ.get(DATA_HOME_ENV) or DEFAULT_DATA_HOME
    return Path(os.fspath(data_home)).expanduser()
