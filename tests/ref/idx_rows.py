"""The first N training rows of an IDX directory (Fashion-MNIST layout) as the float tensor
gnet trains on: gnet_dist --idx DIR --no-shuffle --train-limit N reads the same rows in file
order, each byte as (float)byte / 255.0f (ToTensor's scaling; a correctly rounded float32
division, so torch's uint8 -> float32 / 255 is bit-identical). Importable from tests/ref."""
import gzip
import os

import numpy as np
import torch


def _read(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        return f.read()


def _find(d, stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"{d}: no {stem}[.gz]")


def train_rows(d, n, start=0):
    """x: float32 [n,1,28,28], y: int64 [n] for training rows start..start+n-1."""
    img = _read(_find(d, "train-images-idx3-ubyte"))
    lab = _read(_find(d, "train-labels-idx1-ubyte"))
    total = int.from_bytes(img[4:8], "big")
    if start + n > total:
        raise ValueError(f"{d}: {total} training images, asked for rows {start}..{start + n - 1}")
    x = np.frombuffer(img, np.uint8, n * 784, 16 + start * 784).reshape(n, 1, 28, 28)
    y = np.frombuffer(lab, np.uint8, n, 8 + start).astype(np.int64)
    x = torch.from_numpy(x.astype(np.float32)) / torch.tensor(255.0, dtype=torch.float32)
    return x.contiguous(), torch.from_numpy(y)
