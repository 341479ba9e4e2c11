"""An offline outlier-exposure corpus for MNIST-scale images.

Outlier exposure (Hendrycks et al., 2019) and ADRA (Deecke et al., 2020)
contrast the normal class with a large unstructured corpus that shares no
class with the evaluation data but lives in a nearby domain (CIFAR-100 for
CIFAR-10).  For MNIST digits, offline, this module draws such a corpus from
two sources that need no download:

- ``"letters"``: Latin letters rendered with matplotlib's bundled DejaVu Sans
  font, white on black, centred in a 28x28 frame like MNIST digits, with a
  random size, offset, stroke width, slant and rotation;
- ``"crops"``: grayscale crops of the two photographs of
  :func:`sklearn.datasets.load_sample_images`, at random positions and
  scales, resized to the frame.

Letters are the nearby domain (strokes on a dark background); natural crops
are trivially separable from digits and teach a classifier little about them.
"""

import numbers

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params

__all__ = ["make_outlier_corpus", "CORPUS_LETTERS"]

#: Letters that can be mistaken for a digit in handwriting (0: O o D Q,
#: 1: I l i j, 2: Z z, 5: S s, 6: b G, 8: B, 9: g q) are left out, so the
#: corpus shares no class with MNIST, as CIFAR-100 shares none with CIFAR-10.
CORPUS_LETTERS = "".join(
    c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    if c not in "OoDQIlijZzSsbGBgq"
)


def _render_letters(n, size, rng):
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib import patheffects
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - matplotlib is an optional dependency
        raise ImportError(
            "The 'letters' corpus renders glyphs with matplotlib; install it "
            "(pip install matplotlib) or use sources=('crops',)."
        ) from exc
    fig = Figure(figsize=(1, 1), dpi=size, facecolor="black")
    canvas = FigureCanvasAgg(fig)
    text = fig.text(0.5, 0.5, "", color="white", ha="center", va="center",
                    family="DejaVu Sans")
    out = np.empty((n, size, size), dtype=np.float32)
    letters = rng.choice(list(CORPUS_LETTERS), size=n)
    # MNIST digits fill a 20x20 box in the 28x28 frame; an em of 18-30 px
    # gives capitals of about 13-22 px (font size in points = px * 72 / dpi).
    heights = rng.uniform(18, 30, size=n) * size / 28 * 72 / size
    shifts = rng.uniform(-0.12, 0.12, size=(n, 2))
    rotations = rng.uniform(-25, 25, size=n)
    strokes = rng.uniform(0.0, 2.5, size=n) * size / 28
    styles = rng.choice(["normal", "italic", "oblique"], size=n)
    weights = rng.choice(["normal", "bold"], size=n)
    for i in range(n):
        text.set_text(letters[i])
        text.set_fontsize(heights[i])
        text.set_position((0.5 + shifts[i, 0], 0.5 + shifts[i, 1]))
        text.set_rotation(rotations[i])
        text.set_fontstyle(styles[i])
        text.set_fontweight(weights[i])
        text.set_path_effects([patheffects.withStroke(linewidth=strokes[i], foreground="white")])
        canvas.draw()
        out[i] = np.asarray(canvas.buffer_rgba())[..., 0] / 255.0
    return out


def _natural_crops(n, size, rng):
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_sample_images

    photos = [np.asarray(img, dtype=np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
              / 255.0 for img in load_sample_images().images]
    out = np.empty((n, size, size), dtype=np.float32)
    which = rng.randint(len(photos), size=n)
    for i in range(n):
        photo = photos[which[i]]
        side = int(rng.randint(size, 4 * size + 1))
        top = rng.randint(photo.shape[0] - side + 1)
        left = rng.randint(photo.shape[1] - side + 1)
        crop = torch.as_tensor(photo[top:top + side, left:left + side])[None, None]
        out[i] = F.interpolate(crop, size=(size, size), mode="area")[0, 0].numpy()
    return out


@validate_params(
    {
        "n_samples": [Interval(numbers.Integral, 1, None, closed="left")],
        "sources": [tuple, list],
        "image_size": [Interval(numbers.Integral, 8, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_outlier_corpus(n_samples=5000, *, sources=("letters", "crops"), image_size=28,
                        random_state=None):
    """Draw an outlier-exposure corpus of MNIST-scale images, fully offline.

    Parameters
    ----------
    n_samples : int, default=5000
        Number of images; they are split as evenly as possible between the
        sources and shuffled.
    sources : sequence of {"letters", "crops"}, default=("letters", "crops")
        ``"letters"``: rendered letters (:data:`CORPUS_LETTERS`, DejaVu Sans,
        random em size 18-30 px, offset up to +-3 px, stroke 0-2.5 px,
        upright or slanted, normal or bold, rotation +-25 degrees); ``"crops"``:
        grayscale crops (28-112 px, area-resized) of scikit-learn's two
        sample photographs.
    image_size : int, default=28
        Side of the square images.
    random_state : int, RandomState instance or None, default=None
        Seed of every random choice.

    Returns
    -------
    X : ndarray of shape (n_samples, 1, image_size, image_size), float32
        Images in [0, 1], white strokes on black like MNIST / 255.
    source : ndarray of shape (n_samples,), dtype object
        The source of each image.

    Examples
    --------
    >>> from skdeepad.datasets import make_outlier_corpus
    >>> X, source = make_outlier_corpus(4, sources=("crops",), random_state=0)
    >>> X.shape, float(X.min()) >= 0, float(X.max()) <= 1
    ((4, 1, 28, 28), True, True)
    """
    known = {"letters": _render_letters, "crops": _natural_crops}
    sources = tuple(sources)
    if not sources or any(s not in known for s in sources):
        raise ValueError(
            f"sources must be a non-empty sequence of {sorted(known)}; got {sources!r}."
        )
    rng = check_random_state(random_state)
    counts = np.full(len(sources), n_samples // len(sources))
    counts[: n_samples % len(sources)] += 1
    parts = [known[s](int(c), image_size, rng) for s, c in zip(sources, counts)]
    X = np.concatenate(parts)[:, None]
    source = np.repeat(np.array(sources, dtype=object), counts)
    order = rng.permutation(n_samples)
    return np.clip(X[order], 0.0, 1.0), source[order]
