"""Print what a bug report needs: versions of skdeepad, its dependencies and devices."""

import platform
import sys
from importlib.metadata import PackageNotFoundError, version

_DEPENDENCIES = ("skdeepad", "torch", "numpy", "scipy", "scikit-learn", "joblib", "tqdm")


def _versions():
    info = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in _DEPENDENCIES:
        try:
            info[name] = version(name)
        except PackageNotFoundError:
            info[name] = "not installed"
    import torch

    info["torch CUDA"] = torch.version.cuda or "none (CPU build)"
    if torch.cuda.is_available():
        info["device"] = ", ".join(
            torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
        )
    else:
        info["device"] = "CPU only"
    info["torch threads"] = str(torch.get_num_threads())
    return info


def show_versions():
    """Print the versions of skdeepad and its dependencies, torch's CUDA and the device.

    Examples
    --------
    >>> import skdeepad
    >>> skdeepad.show_versions()  # doctest: +SKIP
    """
    info = _versions()
    width = max(map(len, info))
    for key, value in info.items():
        print(f"{key:>{width}}: {value}")
