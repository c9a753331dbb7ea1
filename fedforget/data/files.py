"""Local files (``data.name: local``, ``data.path``), the formats researchers and
deployed devices keep data in:

* an ``ImageFolder``-style tree ``<path>/<class name>/<image file>`` (classes in sorted
  order; every image the same size; grey or RGB);
* a ``.npz`` file, or a device folder holding ``data.npz``: arrays ``x``, ``y`` and
  optionally ``ids`` and ``num_classes`` (the device format of fedforget.data.local);
* a Parquet file (or a folder of them): a label column (label/labels/fine_label/...) and
  either an image column (image/img: PNG/JPEG bytes as Hugging Face writes them), a
  list-valued ``x`` column, or numeric feature columns.

Everything read is validated before any training, with a message naming the file and the
fix: finite float features of at least 2 dimensions, integer labels in range, unique ids.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from fedforget.data.arrays import ArrayData
from fedforget.util.errors import DataError

IMAGE_COLUMNS = ("image", "img", "pixel_values")
LABEL_COLUMNS = ("label", "labels", "fine_label", "coarse_label", "character")
TEXT_COLUMNS = ("text", "sentence", "content", "review")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def check_arrays(where: str, x: Any, y: Any, ids: Any = None, num_classes: int = 0) -> ArrayData:
    """Validate raw arrays into an :class:`ArrayData` (``num_classes`` 0 = max label + 1)."""
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim < 2:
        raise DataError(f"{where}: features x must have shape (n, ...) with at least 2 dimensions, got {x.shape}; "
                        "store one row per sample")
    if not np.issubdtype(x.dtype, np.number) or not np.isfinite(x.astype(np.float64)).all():
        raise DataError(f"{where}: features x must be finite numbers (no NaN or infinity); clean the data first")
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(f"{where}: labels y must be 1-d with one label per sample, got shape {y.shape} for {len(x)} samples")
    if len(y) and not (np.issubdtype(y.dtype, np.integer) or np.array_equal(y, np.round(y))):
        raise DataError(f"{where}: labels y must be integers (class indices), got e.g. {y[~np.isclose(y, np.round(y))][:3]}")
    y = y.astype(np.int64)
    k = int(num_classes) or (int(y.max()) + 1 if len(y) else 0)
    if len(y) and (y.min() < 0 or y.max() >= k):
        raise DataError(f"{where}: labels must lie in [0, {k - 1}], got [{y.min()}, {y.max()}]")
    ids = np.arange(len(y), dtype=np.int64) if ids is None else np.asarray(ids).astype(np.int64)
    if ids.shape != y.shape or len(np.unique(ids)) != len(ids):
        raise DataError(f"{where}: sample ids must be unique, one per sample")
    if k < 2:
        raise DataError(f"{where}: needs at least 2 classes, got {k}")
    return ArrayData(x.astype(np.float32), y, ids, k)


def _image_array(img: Any, where: str) -> np.ndarray:
    a = np.asarray(img, dtype=np.float32)
    if a.ndim == 2:
        a = a[None]
    elif a.ndim == 3:
        a = np.transpose(a, (2, 0, 1))
    else:
        raise DataError(f"{where}: not a grey or colour image (array shape {a.shape})")
    return a / 255.0


def _open_image(src: Any, where: str) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError as e:  # pragma: no cover - pillow ships with matplotlib
        raise DataError("reading images needs Pillow: pip install pillow") from e
    try:
        with Image.open(src) as im:
            im = im.convert("RGB") if im.mode not in ("L", "RGB") else im
            return _image_array(im, where)
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"{where}: cannot read the image ({e})") from e


def _stack_images(images: list[np.ndarray], names: list[str], root: str) -> np.ndarray:
    if any(a.shape[0] == 3 for a in images):  # mixed grey/RGB: everything RGB
        images = [np.repeat(a, 3, axis=0) if a.shape[0] == 1 else a for a in images]
    shape = images[0].shape
    for a, n in zip(images, names, strict=True):
        if a.shape != shape:
            raise DataError(f"{root}: every image must have the same size; {n} is {a.shape[1:]}, "
                            f"{names[0]} is {shape[1:]} (resize them first)")
    return np.stack(images)


def load_image_folder(root: Path) -> ArrayData:
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    images, labels, names = [], [], []
    for k, c in enumerate(classes):
        for f in sorted((root / c).iterdir()):
            if f.suffix.lower() in IMAGE_SUFFIXES:
                images.append(_open_image(f, str(f)))
                labels.append(k)
                names.append(f"{c}/{f.name}")
    if not images:
        raise DataError(f"{root}: no images found; an image folder holds <class>/<image> files "
                        f"({', '.join(IMAGE_SUFFIXES)})")
    return check_arrays(str(root), _stack_images(images, names, str(root)), np.asarray(labels), None, len(classes))


def load_npz_file(path: Path) -> ArrayData:
    try:
        with np.load(path, allow_pickle=False) as z:
            arr = {k: z[k] for k in z.files}
    except Exception as e:
        raise DataError(f"cannot read {path}: {e}") from e
    missing = [k for k in ("x", "y") if k not in arr]
    if missing:
        raise DataError(f"{path} lacks arrays {missing}; it needs x (features) and y (labels), optionally ids, num_classes")
    return check_arrays(str(path), arr["x"], arr["y"], arr.get("ids"), int(arr["num_classes"]) if "num_classes" in arr else 0)


def load_parquet(path: Path) -> ArrayData:
    try:
        import pyarrow.parquet as pq
    except ImportError as e:  # pragma: no cover - pyarrow ships with flwr-datasets
        raise DataError("reading Parquet needs pyarrow: pip install pyarrow") from e
    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    try:
        table = pq.read_table(files[0]) if len(files) == 1 else __import__("pyarrow").concat_tables(
            [pq.read_table(f) for f in files])
    except Exception as e:
        raise DataError(f"cannot read Parquet {path}: {e}") from e
    cols = table.column_names
    lab = next((c for c in LABEL_COLUMNS if c in cols), None)
    if lab is None:
        raise DataError(f"{path}: no label column; name it one of {', '.join(LABEL_COLUMNS)} (columns: {cols})")
    y = np.asarray(table.column(lab).to_numpy(zero_copy_only=False))
    ids = np.asarray(table.column("id").to_numpy()) if "id" in cols else None
    img = next((c for c in IMAGE_COLUMNS if c in cols), None)
    if img is not None:
        vals = table.column(img).to_pylist()
        images = [_open_image(io.BytesIO(v["bytes"] if isinstance(v, dict) else v), f"{path} row {i}")
                  for i, v in enumerate(vals)]
        x = _stack_images(images, [f"row {i}" for i in range(len(images))], str(path))
    elif "x" in cols:
        try:
            x = np.asarray(table.column("x").to_pylist(), dtype=np.float64)
        except ValueError as e:
            raise DataError(f"{path}: column x must hold equal-length lists of numbers ({e})") from e
    else:
        feats = [c for c in cols if c not in (lab, "id")]
        if not feats:
            raise DataError(f"{path}: no feature columns besides the label")
        x = np.stack([np.asarray(table.column(c).to_numpy(zero_copy_only=False), dtype=np.float64) for c in feats], 1)
    return check_arrays(str(path), x, y, ids)


def load_local_path(path: str) -> ArrayData:
    """Dispatch on what ``data.path`` is (see the module docstring)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"data.path {path!r} does not exist; point it at an image folder, a .npz or a .parquet file")
    if p.is_file() and p.suffix == ".npz":
        return load_npz_file(p)
    if p.is_file() and p.suffix == ".parquet":
        return load_parquet(p)
    if p.is_dir() and (p / "data.npz").exists():
        return load_npz_file(p / "data.npz")
    if p.is_dir() and any(p.glob("*.parquet")):
        return load_parquet(p)
    if p.is_dir():
        return load_image_folder(p)
    raise DataError(f"data.path {path!r}: unknown format; use an image folder, a .npz or a .parquet file")
