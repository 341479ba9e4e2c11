"""Tests for skdeepad.datasets.

Downloads are tested against a local HTTP server, never the internet. Tests
that read the real benchmark files run only when ``SKDEEPAD_DATA`` points at
a folder that holds them (CI sets it to the shared data folder).
"""

import functools
import gzip
import hashlib
import http.server
import io
import os
import re
import threading
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from skdeepad.datasets import (
    ChecksumError,
    CorruptDataError,
    DataNotFoundError,
    _fetch,
    _registry,
    get_data_home,
    list_adbench,
    list_odds,
    load_abalone,
    load_adbench,
    load_abalone_outliers,
    load_mnist_test,
    load_odds,
    make_bundled_tasks,
    make_semisupervised_split,
)

# Read once, before any test changes the environment.
SHARED_DATA = os.environ.get("SKDEEPAD_DATA")
GROUPS = ("odds", "adbench", "mnist", "uci")


def _shared_file(relpath):
    """Return the path of a real data file, or skip the test."""
    if not SHARED_DATA:
        pytest.skip("SKDEEPAD_DATA is not set: no real data folder to test with")
    path = Path(SHARED_DATA, *relpath.split("/"))
    if not path.is_file():
        pytest.skip(f"{relpath} is not in SKDEEPAD_DATA={SHARED_DATA}")
    return path


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch):
    """Point every mirror at a closed local port so no test can go online."""
    for group in GROUPS:
        monkeypatch.setenv(
            _fetch.MIRROR_ENV_PREFIX + group.upper(), "http://127.0.0.1:9/offline"
        )


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def http_server(tmp_path):
    """Serve a temporary folder on 127.0.0.1; yield (folder, base URL)."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}/files"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _serve(http_server, monkeypatch, group, name, content, registered=None):
    """Serve ``content`` as ``<group>/<name>`` and register its digest."""
    folder, base = http_server
    # The server maps <base>/<name> to <folder>/files/<name>.
    (folder / "files").mkdir(exist_ok=True)
    (folder / "files" / name).write_bytes(content)
    digest = hashlib.sha256(registered if registered is not None else content)
    monkeypatch.setitem(_registry.SHA256, f"{group}/{name}", digest.hexdigest())
    monkeypatch.setenv(_fetch.MIRROR_ENV_PREFIX + group.upper(), base)
    return f"{base}/{name}"


def _mat_bytes(tmp_path, X, y):
    path = tmp_path / "tmp.mat"
    scipy.io.savemat(path, {"X": X, "y": y})
    return path.read_bytes()


def _npz_bytes(tmp_path, X, y):
    path = tmp_path / "tmp.npz"
    np.savez(path, X=X, y=y)
    return path.read_bytes()


# -- data home --------------------------------------------------------------


def test_get_data_home_precedence(monkeypatch, tmp_path):
    """The argument beats SKDEEPAD_DATA, which beats ~/skdeepad_data."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SKDEEPAD_DATA", raising=False)
    assert get_data_home() == tmp_path / "skdeepad_data"
    monkeypatch.setenv("SKDEEPAD_DATA", "")
    assert get_data_home() == tmp_path / "skdeepad_data"
    monkeypatch.setenv("SKDEEPAD_DATA", "~/from_env")
    assert get_data_home() == tmp_path / "from_env"
    assert get_data_home(tmp_path / "arg") == tmp_path / "arg"
    assert get_data_home("~/arg") == tmp_path / "arg"
    assert not (tmp_path / "skdeepad_data").exists()


# -- download and verification ----------------------------------------------


def test_fetch_file_downloads_and_verifies(http_server, monkeypatch, tmp_path):
    """A missing file is downloaded, verified and saved in the data home."""
    content = b"fake odds file" * 1000
    _serve(http_server, monkeypatch, "odds", "fake.mat", content)
    home = tmp_path / "home"
    path = _fetch.fetch_file("odds/fake.mat", data_home=home)
    assert path == home / "odds" / "fake.mat"
    assert path.read_bytes() == content
    assert os.listdir(home / "odds") == ["fake.mat"]  # no temporary file left
    # A second call uses the file, without the server.
    (http_server[0] / "files" / "fake.mat").unlink()
    assert _fetch.fetch_file("odds/fake.mat", data_home=home, download=False) == path


def test_fetch_file_checksum_mismatch_keeps_nothing(http_server, monkeypatch, tmp_path):
    """Corrupted bytes raise ChecksumError naming both digests; nothing is kept."""
    url = _serve(
        http_server, monkeypatch, "odds", "fake.mat", b"corrupted", registered=b"good"
    )
    expected = hashlib.sha256(b"good").hexdigest()
    received = hashlib.sha256(b"corrupted").hexdigest()
    home = tmp_path / "home"
    with pytest.raises(ChecksumError, match=expected) as excinfo:
        _fetch.fetch_file("odds/fake.mat", data_home=home)
    message = str(excinfo.value)
    assert received in message and "odds/fake.mat" in message and url in message
    assert isinstance(excinfo.value, OSError)
    assert not home.exists()


def test_fetch_file_http_404_says_what_to_do(http_server, monkeypatch, tmp_path):
    """A server error names the file, the URL and the full target path."""
    folder, base = http_server
    monkeypatch.setitem(_registry.SHA256, "odds/fake.mat", "0" * 64)
    monkeypatch.setenv("SKDEEPAD_MIRROR_ODDS", base)
    home = tmp_path / "home"
    target = home / "odds" / "fake.mat"
    with pytest.raises(DataNotFoundError, match=re.escape(f"{base}/fake.mat")) as exc:
        _fetch.fetch_file("odds/fake.mat", data_home=home)
    message = str(exc.value)
    assert str(target) in message and "404" in message and "SKDEEPAD_DATA" in message
    assert isinstance(exc.value, FileNotFoundError)
    assert not home.exists()


def test_fetch_file_download_false_says_what_to_do(monkeypatch, tmp_path):
    """download=False names the file, the URL and where to save it."""
    for group in GROUPS:
        monkeypatch.delenv(_fetch.MIRROR_ENV_PREFIX + group.upper())
    url = (
        "https://raw.githubusercontent.com/yzhao062/pyod/master/notebooks/data/"
        "cardio.mat"
    )
    target = tmp_path / "odds" / "cardio.mat"
    with pytest.raises(DataNotFoundError, match=re.escape(url)) as exc:
        _fetch.fetch_file("odds/cardio.mat", data_home=tmp_path, download=False)
    message = str(exc.value)
    assert "'odds/cardio.mat'" in message and str(target) in message
    assert "download=False" in message and "SKDEEPAD_DATA" in message
    assert _registry.SHA256["odds/cardio.mat"] in message
    assert not (tmp_path / "odds").exists()


def test_fetch_file_connection_refused(monkeypatch, tmp_path):
    """An unreachable mirror gives a DataNotFoundError, not a raw URLError."""
    with pytest.raises(DataNotFoundError, match="127.0.0.1:9/offline/cardio.mat"):
        _fetch.fetch_file("odds/cardio.mat", data_home=tmp_path)


def test_fetch_file_mirror_mapping_override(http_server, monkeypatch, tmp_path):
    """The module-level MIRRORS mapping is used when no env variable is set."""
    content = b"abc"
    _serve(http_server, monkeypatch, "adbench", "99_fake.npz", content)
    monkeypatch.delenv("SKDEEPAD_MIRROR_ADBENCH")
    monkeypatch.setitem(_fetch.MIRRORS, "adbench", http_server[1])
    path = _fetch.fetch_file("adbench/99_fake.npz", data_home=tmp_path)
    assert path.read_bytes() == content


def test_fetch_file_unknown_file():
    """A path outside the registry is a ValueError."""
    with pytest.raises(ValueError, match="Unknown data file 'odds/nope.mat'"):
        _fetch.fetch_file("odds/nope.mat")


def test_default_mirror_urls(monkeypatch):
    """The default mirrors, and the files none of them serve."""
    for group in GROUPS:
        monkeypatch.delenv(_fetch.MIRROR_ENV_PREFIX + group.upper())
    assert _fetch.mirror_url("odds/satimage-2.mat") == (
        "https://raw.githubusercontent.com/yzhao062/pyod/master/notebooks/data/"
        "satimage-2.mat"
    )
    assert _fetch.mirror_url("adbench/6_cardio.npz") == (
        "https://github.com/Minqi824/ADBench/raw/main/adbench/datasets/Classical/"
        "6_cardio.npz"
    )
    assert _fetch.mirror_url("mnist/t10k-labels-idx1-ubyte.gz") == (
        "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz"
    )
    assert _fetch.mirror_url("odds/thyroid.mat") is None
    assert _fetch.mirror_url("uci/abalone.csv") is None


@pytest.mark.parametrize("relpath", ["odds/thyroid.mat", "uci/abalone.csv"])
def test_fetch_file_without_mirror_explains(monkeypatch, tmp_path, relpath):
    """A file without a public mirror: the message says where to put it."""
    for group in GROUPS:
        monkeypatch.delenv(_fetch.MIRROR_ENV_PREFIX + group.upper())
    target = tmp_path.joinpath(*relpath.split("/"))
    with pytest.raises(DataNotFoundError, match="cannot be downloaded automatically"):
        _fetch.fetch_file(relpath, data_home=tmp_path)
    with pytest.raises(DataNotFoundError, match=re.escape(str(target))):
        _fetch.fetch_file(relpath, data_home=tmp_path)


def test_registry_has_every_file():
    """The registry lists the 18 ODDS, 43 ADBench, 2 MNIST and 1 UCI files."""
    groups = [key.split("/")[0] for key in _registry.SHA256]
    counts = {group: groups.count(group) for group in GROUPS}
    assert counts == {"odds": 18, "adbench": 43, "mnist": 2, "uci": 1}
    assert all(re.fullmatch("[0-9a-f]{64}", d) for d in _registry.SHA256.values())


# -- loaders on generated files ---------------------------------------------


def test_load_odds_downloads_and_converts(http_server, monkeypatch, tmp_path):
    """load_odds downloads a file and returns float64 X and 1-D int y."""
    X = np.arange(20, dtype=np.int16).reshape(10, 2)
    y = np.array([[0], [1]] * 5, dtype=np.uint8)
    _serve(http_server, monkeypatch, "odds", "cardio.mat", _mat_bytes(tmp_path, X, y))
    X_loaded, y_loaded = load_odds("Cardio", data_home=tmp_path / "home")
    assert X_loaded.dtype == np.float64 and X_loaded.shape == (10, 2)
    assert y_loaded.dtype == np.int64 and y_loaded.shape == (10,)
    np.testing.assert_array_equal(X_loaded, X)
    np.testing.assert_array_equal(y_loaded, y.ravel())

    bunch = load_odds("cardio", data_home=tmp_path / "home", return_X_y=False)
    assert set(bunch) >= {"data", "target", "feature_names", "DESCR", "name"}
    assert bunch.feature_names is None and bunch.name == "cardio"
    assert "outliers (y == 1): 5" in bunch.DESCR
    np.testing.assert_array_equal(bunch.data, X)


def test_load_odds_unknown_name_lists_names():
    """An unknown name is a ValueError listing the available sets."""
    with pytest.raises(ValueError, match="Unknown ODDS dataset 'cardiac'.*satimage-2"):
        load_odds("cardiac")
    assert {
        "arrhythmia",
        "cardio",
        "satellite",
        "satimage-2",
        "shuttle",
        "thyroid",
    } <= set(list_odds())


def test_load_odds_rejects_bad_parameter():
    """Parameters are validated with scikit-learn's machinery."""
    with pytest.raises(ValueError, match="'name' parameter of load_odds"):
        load_odds(3)


def test_load_odds_matlab_v73_file(tmp_path):
    """A MATLAB v7.3 (HDF5) file gets a clear error."""
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(116) + b"\0" * 8
    path = tmp_path / "odds" / "glass.mat"
    path.parent.mkdir()
    path.write_bytes(header + b"\x00\x02IM" + b"\0" * 512)
    with pytest.raises(ValueError, match="MATLAB v7.3"):
        load_odds("glass", data_home=tmp_path, download=False)


def test_load_odds_rejects_labels_other_than_0_1(tmp_path):
    """A file with labels outside {0, 1} is rejected."""
    path = tmp_path / "odds" / "glass.mat"
    path.parent.mkdir()
    scipy.io.savemat(path, {"X": np.zeros((3, 2)), "y": np.array([[0], [1], [2]])})
    with pytest.raises(ValueError, match=r"labels \[0, 1, 2\]"):
        load_odds("glass", data_home=tmp_path, download=False)


def test_load_odds_thyroid_falls_back_to_adbench(tmp_path):
    """Without odds/thyroid.mat, ODDS thyroid is read from ADBench's npz."""
    X = np.random.RandomState(0).normal(size=(6, 6))
    y = np.array([0, 0, 1, 0, 0, 1])
    with pytest.raises(DataNotFoundError, match="odds/thyroid.mat.*38_thyroid.npz"):
        load_odds("thyroid", data_home=tmp_path, download=False)
    (tmp_path / "adbench").mkdir()
    np.savez(tmp_path / "adbench" / "38_thyroid.npz", X=X, y=y)
    X_loaded, y_loaded = load_odds("thyroid", data_home=tmp_path, download=False)
    np.testing.assert_array_equal(X_loaded, X)
    np.testing.assert_array_equal(y_loaded, y)


def test_load_odds_thyroid_downloads_adbench_copy(http_server, monkeypatch, tmp_path):
    """The thyroid fallback downloads (and verifies) ADBench's npz."""
    X, y = np.ones((4, 6)), np.array([0, 1, 0, 0])
    _serve(
        http_server,
        monkeypatch,
        "adbench",
        "38_thyroid.npz",
        _npz_bytes(tmp_path, X, y),
    )
    X_loaded, y_loaded = load_odds("thyroid", data_home=tmp_path / "home")
    np.testing.assert_array_equal(X_loaded, X)
    assert (tmp_path / "home" / "adbench" / "38_thyroid.npz").is_file()


def test_load_adbench_name_forms(tmp_path):
    """'cardio', '6_cardio' and 'CARDIO' name the same ADBench file."""
    (tmp_path / "adbench").mkdir()
    X, y = np.arange(8.0).reshape(4, 2), np.array([0, 1, 0, 0], dtype=np.int32)
    np.savez(tmp_path / "adbench" / "6_cardio.npz", X=X, y=y)
    for name in ("cardio", "6_cardio", "CARDIO", "6_Cardio.npz"):
        X_loaded, y_loaded = load_adbench(name, data_home=tmp_path, download=False)
        np.testing.assert_array_equal(X_loaded, X)
        assert y_loaded.dtype == np.int64
    bunch = load_adbench("cardio", data_home=tmp_path, download=False, return_X_y=False)
    assert bunch.name == "6_cardio"


def test_load_adbench_unknown_names():
    """Unknown and excluded ADBench names are ValueErrors that list the sets."""
    with pytest.raises(ValueError, match="Unknown ADBench dataset 'nope'.*6_cardio"):
        load_adbench("nope")
    with pytest.raises(ValueError, match="'fraud' set is not available"):
        load_adbench("13_fraud")
    assert list_adbench()[:2] == ["1_ALOI", "2_annthyroid"]


def _write_idx(path, magic, shape, values):
    header = np.array([magic, *shape], dtype=">u4").tobytes()
    with gzip.open(path, "wb") as f:
        f.write(header + np.asarray(values, dtype=np.uint8).tobytes())


def test_load_mnist_test_parses_idx(tmp_path):
    """The idx parser checks magic numbers and sizes."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    images = np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256
    _write_idx(folder / "t10k-images-idx3-ubyte.gz", 0x803, (3, 28, 28), images)
    _write_idx(folder / "t10k-labels-idx1-ubyte.gz", 0x801, (3,), [7, 2, 1])
    X, y = load_mnist_test(data_home=tmp_path, download=False)
    assert X.shape == (3, 1, 28, 28) and X.dtype == np.uint8 and X.flags.writeable
    np.testing.assert_array_equal(X[:, 0], images)
    np.testing.assert_array_equal(y, [7, 2, 1])
    assert y.dtype == np.int64

    _write_idx(folder / "t10k-labels-idx1-ubyte.gz", 0x803, (3,), [7, 2, 1])
    with pytest.raises(
        ValueError, match="magic number 0x00000803; expected 0x00000801"
    ):
        load_mnist_test(data_home=tmp_path, download=False)
    _write_idx(folder / "t10k-labels-idx1-ubyte.gz", 0x801, (4,), [7, 2, 1])
    with pytest.raises(ValueError, match="declares shape"):
        load_mnist_test(data_home=tmp_path, download=False)


def test_load_abalone_parses_csv(tmp_path):
    """The abalone csv becomes 8 numeric features and the ring counts."""
    (tmp_path / "uci").mkdir()
    (tmp_path / "uci" / "abalone.csv").write_text(
        "Sex,Length,Diameter,Height,Whole_weight,Shucked_weight,Viscera_weight,"
        "Shell_weight,Class  \nM,0.4,0.3,0.1,0.5,0.2,0.1,0.15,15\n"
        "I,0.3,0.2,0.1,0.2,0.1,0.05,0.07,7\n"
    )
    X, y = load_abalone(data_home=tmp_path, download=False)
    assert X.shape == (2, 8) and X[:, 0].tolist() == [0.0, 2.0]
    np.testing.assert_array_equal(y, [15, 7])


# -- corrupt files in the data home ------------------------------------------

_ABALONE_CSV = (
    "Sex,Length,Diameter,Height,Whole_weight,Shucked_weight,Viscera_weight,"
    "Shell_weight,Class\n"
    + "".join(
        f"{'MFI'[i % 3]},0.{i + 10},0.3,0.1,0.5,0.2,0.1,0.15,{i % 20 + 1}\n"
        for i in range(40)
    )
)
_MNIST_IMAGES = "mnist/t10k-images-idx3-ubyte.gz"
_MNIST_LABELS = "mnist/t10k-labels-idx1-ubyte.gz"


def _good_bytes(tmp_path, relpath):
    """A readable file for ``relpath``: the real one if shared, else a small one."""
    if SHARED_DATA and Path(SHARED_DATA, *relpath.split("/")).is_file():
        return Path(SHARED_DATA, *relpath.split("/")).read_bytes()
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(60, 5)), (np.arange(60) % 6 == 0).astype(int)
    if relpath.endswith(".mat"):
        return _mat_bytes(tmp_path, X, y.reshape(-1, 1))
    if relpath.endswith(".npz"):
        return _npz_bytes(tmp_path, X, y)
    if relpath.endswith(".csv"):
        return _ABALONE_CSV.encode()
    path = tmp_path / "tmp.gz"
    if relpath == _MNIST_IMAGES:
        _write_idx(path, 0x803, (5, 28, 28), rng.randint(0, 256, 5 * 28 * 28))
    else:
        _write_idx(path, 0x801, (5,), [7, 2, 1, 0, 4])
    return path.read_bytes()


def _put(home, relpath, content):
    path = home.joinpath(*relpath.split("/"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


_LOADERS = {
    "odds/cardio.mat": functools.partial(load_odds, "cardio"),
    "odds/thyroid.mat": functools.partial(load_odds, "thyroid"),
    "adbench/6_cardio.npz": functools.partial(load_adbench, "6_cardio"),
    _MNIST_IMAGES: load_mnist_test,
    _MNIST_LABELS: load_mnist_test,
    "uci/abalone.csv": load_abalone,
}


def _corrupt(good, kind):
    if kind == "truncated":
        return good[: len(good) // 2]
    if kind == "empty":
        return b""
    if kind == "header only":
        return good[: min(100, len(good) // 2)]
    return np.random.RandomState(1).bytes(3000)  # garbage


@pytest.mark.parametrize("kind", ["truncated", "empty", "header only", "garbage"])
@pytest.mark.parametrize("relpath", sorted(_LOADERS))
def test_corrupt_file_names_itself_and_the_fix(monkeypatch, tmp_path, relpath, kind):
    """A damaged file is a CorruptDataError that names it, its wrong digest and the fix."""
    home = tmp_path / "home"
    if relpath in _fetch._NO_DEFAULT_MIRROR:  # back to the default: no mirror at all
        group = relpath.partition("/")[0]
        monkeypatch.delenv(_fetch.MIRROR_ENV_PREFIX + group.upper())
    if relpath.startswith("mnist/"):
        for other in (_MNIST_IMAGES, _MNIST_LABELS):
            _put(home, other, _good_bytes(tmp_path, other))
    broken = _corrupt(_good_bytes(tmp_path, relpath), kind)
    path = _put(home, relpath, broken)
    with pytest.raises(
        CorruptDataError, match=re.escape(f"{relpath!r} at {path} is corrupt")
    ) as info:
        _LOADERS[relpath](data_home=home, download=False)
    message = str(info.value)
    digest = hashlib.sha256(broken).hexdigest()
    assert f"Its SHA-256 is {digest}, not the registered one" in message
    assert _registry.SHA256[relpath] in message  # the digest of a good copy
    if relpath in _fetch._NO_DEFAULT_MIRROR:
        assert "Replace it with a good copy" in message
        assert "cannot be downloaded automatically" in message
    else:
        assert (
            "Delete it so that the next load (with download=True) downloads it again "
            f"from {_fetch.mirror_url(relpath)}" in message
        )
    assert isinstance(info.value, ValueError)
    assert info.value.relpath == relpath and info.value.path == path
    assert info.value.checksum_ok is False
    assert path.read_bytes() == broken  # left alone: the data home may be shared


def test_unreadable_file_with_registered_digest_is_called_intact(monkeypatch, tmp_path):
    """If the bytes are the registered ones, the message does not blame the file."""
    garbage = np.random.RandomState(1).bytes(500)
    monkeypatch.setitem(
        _registry.SHA256, "odds/glass.mat", hashlib.sha256(garbage).hexdigest()
    )
    _put(tmp_path, "odds/glass.mat", garbage)
    with pytest.raises(CorruptDataError, match="the file itself is intact") as info:
        load_odds("glass", data_home=tmp_path, download=False)
    assert info.value.checksum_ok is True
    assert "Delete it" not in str(info.value)


def test_malformed_content_is_a_corrupt_data_error(tmp_path):
    """Readable files with the wrong content use the same error class."""
    _put(tmp_path, "adbench/14_glass.npz", _npz_bytes(tmp_path, np.zeros(3), np.zeros(3)))
    with pytest.raises(CorruptDataError, match="is corrupt: it holds X of shape"):
        load_adbench("glass", data_home=tmp_path, download=False)
    with open(tmp_path / "adbench" / "14_glass.npz", "wb") as f:
        np.save(f, np.zeros(3))  # a .npy array under the .npz name
    with pytest.raises(CorruptDataError, match="single .npy array, not an .npz"):
        load_adbench("glass", data_home=tmp_path, download=False)
    _put(tmp_path, "uci/abalone.csv", _ABALONE_CSV.encode()[:-9])  # cut inside a row
    with pytest.raises(CorruptDataError, match=r"line 41 is malformed .*fields instead of 9"):
        load_abalone(data_home=tmp_path, download=False)


def test_mnist_count_mismatch_blames_the_file_with_the_wrong_digest(monkeypatch, tmp_path):
    """Images and labels that disagree in number: the file whose digest is wrong is named."""
    (tmp_path / "mnist").mkdir()
    images = tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz"
    labels = tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"
    _write_idx(images, 0x803, (2, 28, 28), np.zeros(2 * 28 * 28))
    _write_idx(labels, 0x801, (3,), [1, 2, 3])
    monkeypatch.setitem(
        _registry.SHA256, _MNIST_LABELS, hashlib.sha256(labels.read_bytes()).hexdigest()
    )
    with pytest.raises(CorruptDataError, match="holds 2 images but .* holds 3 labels") as info:
        load_mnist_test(data_home=tmp_path, download=False)
    assert info.value.relpath == _MNIST_IMAGES and info.value.checksum_ok is False


_VERIFY_CASES = [
    pytest.param("odds/glass.mat", functools.partial(load_odds, "glass"), id="odds"),
    pytest.param(  # the fallback of ODDS thyroid
        "adbench/38_thyroid.npz", functools.partial(load_odds, "thyroid"), id="thyroid"
    ),
    pytest.param("adbench/14_glass.npz", functools.partial(load_adbench, "glass"),
                 id="adbench"),
    pytest.param("uci/abalone.csv", load_abalone, id="abalone"),
    pytest.param("uci/abalone.csv", load_abalone_outliers, id="abalone_outliers"),
    pytest.param(_MNIST_LABELS, load_mnist_test, id="mnist"),
]


@pytest.mark.parametrize("relpath, loader", _VERIFY_CASES)
def test_verify_rehashes_an_existing_file(monkeypatch, tmp_path, relpath, loader):
    """verify=True checks the digest of a file already there; the default trusts it."""
    home = tmp_path / "home"
    for other in (_MNIST_IMAGES, _MNIST_LABELS) if relpath.startswith("mnist") else ():
        other_content = _good_bytes(tmp_path, other)
        _put(home, other, other_content)
        digest = hashlib.sha256(other_content).hexdigest()
        monkeypatch.setitem(_registry.SHA256, other, digest)
    content = _good_bytes(tmp_path, relpath)
    _put(home, relpath, content)
    # A readable file whose digest is not the registered one:
    monkeypatch.setitem(_registry.SHA256, relpath, "0" * 64)
    loader(data_home=home, download=False)  # trusted without hashing by default
    with pytest.raises(
        CorruptDataError, match=f"{re.escape(relpath)}.*checked because verify=True"
    ) as info:
        loader(data_home=home, download=False, verify=True)
    assert hashlib.sha256(content).hexdigest() in str(info.value)
    monkeypatch.setitem(_registry.SHA256, relpath, hashlib.sha256(content).hexdigest())
    loader(data_home=home, download=False, verify=True)  # the registered bytes pass


@pytest.mark.skipif(os.name != "posix", reason="file modes and umask are POSIX")
@pytest.mark.parametrize(
    "umask, mode",
    [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)],
    ids=["umask022", "umask027", "umask002"],
)
def test_downloaded_file_honours_the_umask(monkeypatch, tmp_path, umask, mode):
    """A downloaded file gets the permissions of any new file, not mkstemp's 0600."""
    content = b"some bytes"
    monkeypatch.setitem(_registry.SHA256, "odds/glass.mat", hashlib.sha256(content).hexdigest())
    urls = []

    def fake_urlopen(url, timeout):
        urls.append(url)
        return io.BytesIO(content)

    monkeypatch.setattr(_fetch.urllib.request, "urlopen", fake_urlopen)
    old = os.umask(umask)
    try:
        path = _fetch.fetch_file("odds/glass.mat", data_home=tmp_path)
    finally:
        os.umask(old)
    assert urls == ["http://127.0.0.1:9/offline/glass.mat"]
    assert path.read_bytes() == content
    assert path.stat().st_mode & 0o777 == mode
    assert sorted(p.name for p in path.parent.iterdir()) == ["glass.mat"]  # no .part left


# -- loaders on the real data (SKDEEPAD_DATA) --------------------------------

TABLE_1 = {
    "arrhythmia": (452, 274, 66),
    "cardio": (1831, 21, 176),
    "satellite": (6435, 36, 2036),
    "satimage-2": (5803, 36, 71),
    "shuttle": (49097, 9, 3511),
    "thyroid": (3772, 6, 93),
}


@pytest.mark.parametrize("name", sorted(TABLE_1))
def test_load_odds_real_table1(name):
    """The six ODDS sets of Deep SAD's Table 1 have their published sizes."""
    _shared_file(f"odds/{name}.mat")
    X, y = load_odds(name, data_home=SHARED_DATA, download=False)
    n_samples, n_features, n_outliers = TABLE_1[name]
    assert X.shape == (n_samples, n_features) and X.dtype == np.float64
    assert y.shape == (n_samples,) and int(y.sum()) == n_outliers
    assert set(np.unique(y)) == {0, 1}


def test_load_odds_real_thyroid_mat_equals_adbench():
    """odds/thyroid.mat and ADBench's 38_thyroid.npz hold the same data."""
    _shared_file("odds/thyroid.mat")
    _shared_file("adbench/38_thyroid.npz")
    X_mat, y_mat = load_odds("thyroid", data_home=SHARED_DATA, download=False)
    X_npz, y_npz = load_adbench("thyroid", data_home=SHARED_DATA, download=False)
    np.testing.assert_array_equal(X_mat, X_npz)
    np.testing.assert_array_equal(y_mat, y_npz)


def test_real_files_match_registry():
    """Every registered file in the real data folder has its registered digest."""
    if not SHARED_DATA:
        pytest.skip("SKDEEPAD_DATA is not set: no real data folder to test with")
    found = 0
    for relpath, digest in _registry.SHA256.items():
        path = Path(SHARED_DATA, *relpath.split("/"))
        if path.is_file():
            found += 1
            assert _fetch._sha256(path) == digest, relpath
    if not found:
        pytest.skip(f"no registered file in SKDEEPAD_DATA={SHARED_DATA}")


def test_load_odds_real_every_set():
    """Every registered ODDS set in the real data folder loads."""
    if not SHARED_DATA or not Path(SHARED_DATA, "odds").is_dir():
        pytest.skip("SKDEEPAD_DATA has no odds/ folder")
    for name in list_odds():
        if Path(SHARED_DATA, "odds", f"{name}.mat").is_file():
            X, y = load_odds(name, data_home=SHARED_DATA, download=False)
            assert X.ndim == 2 and len(X) == len(y) and 0 < y.sum() < len(y)


def test_load_mnist_test_real():
    """The real MNIST test split: 10,000 28x28 images, digits 0-9."""
    _shared_file("mnist/t10k-images-idx3-ubyte.gz")
    _shared_file("mnist/t10k-labels-idx1-ubyte.gz")
    X, y = load_mnist_test(data_home=SHARED_DATA, download=False)
    assert X.shape == (10000, 1, 28, 28) and X.dtype == np.uint8
    assert np.bincount(y).tolist()[:2] == [980, 1135] and y.max() == 9


def test_load_abalone_real():
    """The real abalone csv: 4177 abalones."""
    _shared_file("uci/abalone.csv")
    X, y = load_abalone(data_home=SHARED_DATA, download=False)
    assert X.shape == (4177, 8) and y.shape == (4177,)
    assert int(np.sum((y == 3) | (y == 21))) > 0


# -- semi-supervised split --------------------------------------------------


def _toy(n_normal=1000, n_anomaly=100, seed=0):
    """Data whose first column is the row index, to trace rows through a split."""
    rng = np.random.RandomState(seed)
    n = n_normal + n_anomaly
    X = np.c_[np.arange(n), rng.normal(size=(n, 3))]
    y = np.r_[np.zeros(n_normal, dtype=int), np.ones(n_anomaly, dtype=int)]
    return X, y


def _raw_split(X, y, **kwargs):
    return make_semisupervised_split(X, y, standardize=False, minmax=False, **kwargs)


def test_split_paper_setting_counts():
    """gamma_l = 0.01 labels int(0.01 / 0.99 * n_normal_train) anomalies."""
    X, y = _toy(1000, 100)
    X_train, y_partial, X_test, y_test = _raw_split(X, y, random_state=0)
    n_normal_train = 1000 - 400
    n_labeled = int(0.01 / 0.99 * n_normal_train)
    assert n_labeled == 6
    assert np.sum(y_partial == -1) == n_labeled
    assert np.sum(y_partial == 0) == n_normal_train
    assert np.sum(y_partial == 1) == 0
    assert len(X_train) == n_normal_train + n_labeled
    # Test set: 40 % of each class, so the anomaly proportion is kept.
    assert len(y_test) == 400 + 40 and y_test.sum() == 40
    assert y_partial.dtype == np.int64 and y_test.dtype == np.int64


def test_split_general_counts_match_ratios():
    """Labeled-normal, labeled-anomaly and pollution ratios are met."""
    X, y = _toy(1000, 400)
    rn, ra, rp = 0.05, 0.1, 0.2
    X_train, y_partial, _, _ = _raw_split(
        X,
        y,
        ratio_labeled_normals=rn,
        ratio_labeled_anomalies=ra,
        ratio_pollution=rp,
        random_state=1,
    )
    is_anomaly = y[X_train[:, 0].astype(int)] == 1
    n_train = len(y_partial)
    n_ln = np.sum(y_partial == 1)
    n_la = np.sum(y_partial == -1)
    n_ua = np.sum((y_partial == 0) & is_anomaly)
    n_un = np.sum((y_partial == 0) & ~is_anomaly)
    assert n_ln + n_un == 600  # every training normal is used
    total = 600 / ((1 - rp) * (1 - ra) + rn * rp)
    assert (n_ln, n_la, n_ua) == (
        int(rn * total),
        int(ra * total),
        int(rp / (1 - rp) * (600 - rn * total)),
    )
    assert abs(n_ln / n_train - rn) < 2 / n_train
    assert abs(n_la / n_train - ra) < 2 / n_train
    assert abs(n_ua / (n_un + n_ua) - rp) < 2 / n_train
    assert np.all(y_partial[is_anomaly] <= 0) and np.all(y_partial[~is_anomaly] >= 0)


def test_split_rows_disjoint_and_complete():
    """Labeled and polluting anomalies are disjoint; no row is used twice."""
    X, y = _toy(500, 120)
    X_train, y_partial, X_test, y_test = _raw_split(
        X, y, ratio_labeled_anomalies=0.05, ratio_pollution=0.1, random_state=3
    )
    train_rows = X_train[:, 0].astype(int)
    test_rows = X_test[:, 0].astype(int)
    labeled = set(train_rows[y_partial == -1])
    polluting = set(train_rows[(y_partial == 0) & (y[train_rows] == 1)])
    assert labeled and polluting and not labeled & polluting
    assert len(set(train_rows)) == len(train_rows)
    assert not set(train_rows) & set(test_rows)
    np.testing.assert_array_equal(y_test, y[test_rows])
    normals = set(np.flatnonzero(y == 0))
    assert normals == (set(train_rows) | set(test_rows)) & normals
    # Training rows are shuffled, not grouped by label.
    assert not np.all(np.diff(y_partial) >= 0)


def test_split_known_anomaly_mask():
    """Only anomalies in known_anomaly_mask are labeled; pollution uses all."""
    X, y = _toy(500, 200)
    known = (y == 1) & (np.arange(len(y)) % 2 == 0)
    X_train, y_partial, _, _ = _raw_split(
        X,
        y,
        ratio_labeled_anomalies=0.05,
        ratio_pollution=0.1,
        known_anomaly_mask=known,
        random_state=0,
    )
    rows = X_train[:, 0].astype(int)
    assert np.all(known[rows[y_partial == -1]])
    assert np.sum(y_partial == -1) > 0
    with pytest.raises(ValueError, match="it may only mark anomalies"):
        _raw_split(X, y, known_anomaly_mask=np.ones(len(y), dtype=bool))


def test_split_scaling_fitted_on_train_only():
    """Scalers are fitted on the returned training set and applied to test."""
    X, y = _toy(300, 50)
    X = X * [1.0, 5.0, 0.1, 100.0]
    raw = _raw_split(X, y, ratio_labeled_anomalies=0.05, random_state=7)
    scaled = make_semisupervised_split(
        X, y, ratio_labeled_anomalies=0.05, random_state=7
    )
    np.testing.assert_array_equal(raw[1], scaled[1])
    np.testing.assert_array_equal(raw[3], scaled[3])
    standard = StandardScaler().fit(raw[0])
    minmax = MinMaxScaler().fit(standard.transform(raw[0]))
    np.testing.assert_allclose(scaled[0], minmax.transform(standard.transform(raw[0])))
    np.testing.assert_allclose(scaled[2], minmax.transform(standard.transform(raw[2])))
    assert scaled[0].min() >= 0.0 and scaled[0].max() <= 1.0
    np.testing.assert_allclose(scaled[0].min(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(scaled[0].max(axis=0), 1.0)

    only_standard = make_semisupervised_split(
        X, y, minmax=False, ratio_labeled_anomalies=0.05, random_state=7
    )
    np.testing.assert_allclose(only_standard[0].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(only_standard[0].std(axis=0), 1.0)


def test_split_reproducible_and_seed_dependent():
    """The same random_state gives the same split; another gives another."""
    X, y = _toy(200, 40)
    first = make_semisupervised_split(X, y, random_state=0)
    again = make_semisupervised_split(X, y, random_state=np.random.RandomState(0))
    other = make_semisupervised_split(X, y, random_state=1)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


def test_split_does_not_modify_inputs():
    """X and y are not modified (read-only inputs work)."""
    X, y = _toy(200, 40)
    X_copy, y_copy = X.copy(), y.copy()
    X.setflags(write=False)
    y.setflags(write=False)
    X_train, _, X_test, _ = make_semisupervised_split(X, y, random_state=0)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(y, y_copy)
    assert not np.shares_memory(X_train, X) and not np.shares_memory(X_test, X)


def test_split_images_without_scaling():
    """N-D data is split as is (dtype kept) when scaling is off."""
    rng = np.random.RandomState(0)
    X = rng.randint(0, 256, size=(60, 1, 8, 8)).astype(np.uint8)
    y = np.r_[np.zeros(50, dtype=int), np.ones(10, dtype=int)]
    X_train, y_partial, X_test, y_test = make_semisupervised_split(
        X,
        y,
        standardize=False,
        minmax=False,
        ratio_labeled_anomalies=0.05,
        random_state=0,
    )
    assert X_train.shape[1:] == (1, 8, 8) and X_train.dtype == np.uint8
    assert len(X_train) + len(X_test) == 30 + 1 + 20 + 4
    with pytest.raises(ValueError, match=r"standardize=False and minmax=False"):
        make_semisupervised_split(X, y)


def test_split_accepts_boolean_y():
    """A boolean y (True = anomaly) is accepted."""
    X, y = _toy(100, 20)
    _, _, _, y_test = make_semisupervised_split(X, y.astype(bool), random_state=0)
    assert set(np.unique(y_test)) == {0, 1}


def test_split_rejects_bad_y():
    """y must be 0/1; predict's +1/-1 gets a hint."""
    X, y = _toy(100, 20)
    with pytest.raises(ValueError, match=r"got the values \[0, 1, 2\]"):
        make_semisupervised_split(X, np.r_[y[:-1], 2])
    with pytest.raises(ValueError, match=r"y = \(y == -1\)"):
        make_semisupervised_split(X, np.where(y == 1, -1, 1))
    with pytest.raises(ValueError, match="at least 2 normal samples"):
        make_semisupervised_split(X, np.r_[np.zeros(119, dtype=int), 1])


def test_split_not_enough_anomalies():
    """Impossible ratios raise an error that gives the numbers."""
    X, y = _toy(1000, 10)  # 6 training anomalies
    pattern = (
        r"ratio_labeled_anomalies=0.05 needs 31 labeled anomalies.*"
        r"training split has 6 anomalies \(10 in y, 4 kept for the test set\)"
    )
    with pytest.raises(ValueError, match=pattern):
        make_semisupervised_split(X, y, ratio_labeled_anomalies=0.05, random_state=0)
    with pytest.raises(ValueError, match="must not exceed 1"):
        make_semisupervised_split(
            X, y, ratio_labeled_anomalies=0.6, ratio_labeled_normals=0.5
        )


@pytest.mark.parametrize(
    "params",
    [
        {"ratio_labeled_anomalies": 1.0},
        {"ratio_pollution": -0.1},
        {"test_size": 0.0},
        {"standardize": "yes"},
    ],
)
def test_split_invalid_parameters(params):
    """Out-of-range parameters are rejected with scikit-learn's message."""
    X, y = _toy(100, 20)
    with pytest.raises(ValueError, match="parameter of make_semisupervised_split"):
        make_semisupervised_split(X, y, **params)


# -- bundled tasks ----------------------------------------------------------


def test_bundled_tasks_are_small_anomaly_tasks():
    """Each bundled task has both classes and few anomalies."""
    tasks = make_bundled_tasks()
    assert list(tasks) == ["breast_cancer", "digits", "wine", "iris"]
    for name, (X, y) in tasks.items():
        assert X.dtype == np.float64 and X.ndim == 2 and np.isfinite(X).all(), name
        assert y.dtype == np.int64 and set(np.unique(y)) == {0, 1}, name
        assert 2 <= y.sum() and y.mean() <= 0.1, name
        # Each task goes through the paper's split (the benchmark fallback).
        make_semisupervised_split(X, y, random_state=0)


def test_bundled_tasks_reproducible():
    """The default seed gives the same tasks; another seed other anomalies."""
    a, b = make_bundled_tasks(), make_bundled_tasks()
    c = make_bundled_tasks(contamination=0.1, random_state=1)
    for name in a:
        np.testing.assert_array_equal(a[name][0], b[name][0])
        np.testing.assert_array_equal(a[name][1], b[name][1])
    assert c["breast_cancer"][1].sum() > a["breast_cancer"][1].sum()
