"""The PyTorch reference for gnet: d2l.ai's GoogLeNet for Fashion-MNIST, copied verbatim
from the d2l code (net = nn.Sequential(b1, b2, b3, b4, b5, nn.Linear(1024, 10))), plus
helpers that read and write gnet checkpoints.

Checkpoint format (the same one src/core/checkpoint.c writes and reads):
  /<state_dict key>   float32 dataset per parameter, e.g. "0.0.weight" [64,1,7,7]
  /optimizer/<key>    SGD momentum buffer per parameter (optional)
  /meta               group with scalar attributes epoch, step (int64), seed (uint64),
                      batch_size, resize (int32), lr, momentum, weight_decay (float64),
                      config (string)
  root attributes     format = "gnet-checkpoint", version = 3 (int32)
  every dataset       attribute crc32 (uint32): zlib.crc32 of its float32 little-endian
                      bytes (version 2; gnet refuses a version-2 file without them)
  the seal            (version 3) an HDF5 user block of 512 bytes at the start holding
                      "gnet-seal 1\nbytes N\ncrc32 XXXXXXXX\n" and NULs: the file's size and
                      zlib.crc32 of everything after the block (src/core/filesum.h)

Importable (tests/ref is not a package: put this directory on sys.path). Running it
directly (python3 googlenet.py) performs a self-check of the model and the format.
Needs torch, h5py and numpy (Debian: python3-torch, python3-h5py).
"""
import os
import zlib

import h5py
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

CKPT_FORMAT = "gnet-checkpoint"
CKPT_VERSION = 3
SEAL_BYTES = 512
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
OPT_GROUP = "optimizer"
META_GROUP = "meta"
# name -> numpy type of the /meta attributes (config is a string).
META_TYPES = {
    "epoch": np.int64,
    "step": np.int64,
    "seed": np.uint64,
    "batch_size": np.int32,
    "resize": np.int32,
    "lr": np.float64,
    "momentum": np.float64,
    "weight_decay": np.float64,
}


class Inception(nn.Module):
    def __init__(self, in_channels, c1, c2, c3, c4, **kwargs):
        super(Inception, self).__init__(**kwargs)
        self.p1_1 = nn.Conv2d(in_channels, c1, kernel_size=1)
        self.p2_1 = nn.Conv2d(in_channels, c2[0], kernel_size=1)
        self.p2_2 = nn.Conv2d(c2[0], c2[1], kernel_size=3, padding=1)
        self.p3_1 = nn.Conv2d(in_channels, c3[0], kernel_size=1)
        self.p3_2 = nn.Conv2d(c3[0], c3[1], kernel_size=5, padding=2)
        self.p4_1 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.p4_2 = nn.Conv2d(in_channels, c4, kernel_size=1)

    def forward(self, X):
        p1 = F.relu(self.p1_1(X))
        p2 = F.relu(self.p2_2(F.relu(self.p2_1(X))))
        p3 = F.relu(self.p3_2(F.relu(self.p3_1(X))))
        p4 = F.relu(self.p4_2(self.p4_1(X)))
        return torch.cat((p1, p2, p3, p4), dim=1)


def make_net():
    """A fresh d2l GoogLeNet (PyTorch default init; see xavier_init)."""
    b1 = nn.Sequential(
        nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b2 = nn.Sequential(
        nn.Conv2d(64, 64, kernel_size=1), nn.ReLU(),
        nn.Conv2d(64, 192, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b3 = nn.Sequential(
        Inception(192, 64, (96, 128), (16, 32), 32),
        Inception(256, 128, (128, 192), (32, 96), 64),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b4 = nn.Sequential(
        Inception(480, 192, (96, 208), (16, 48), 64),
        Inception(512, 160, (112, 224), (24, 64), 64),
        Inception(512, 128, (128, 256), (24, 64), 64),
        Inception(512, 112, (144, 288), (32, 64), 64),
        Inception(528, 256, (160, 320), (32, 128), 128),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b5 = nn.Sequential(
        Inception(832, 256, (160, 320), (32, 128), 128),
        Inception(832, 384, (192, 384), (48, 128), 128),
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten())
    return nn.Sequential(b1, b2, b3, b4, b5, nn.Linear(1024, 10))


def xavier_init(net, seed):
    """d2l's init_weights (xavier_uniform_ on every Conv2d/Linear weight), made reproducible:
    seeds torch's global RNG, re-draws each layer's PyTorch default init (so the biases,
    which d2l leaves at their default, depend on the seed too), then applies Xavier."""
    torch.manual_seed(seed)
    for m in net.modules():
        if type(m) == nn.Linear or type(m) == nn.Conv2d:
            m.reset_parameters()
            nn.init.xavier_uniform_(m.weight)
    return net


def param_table(net):
    """[(state_dict key, shape)] in state_dict order: the layout gnet's parameter table
    must match."""
    return [(k, tuple(v.shape)) for k, v in net.state_dict().items()]


def _decode(v):
    if isinstance(v, (bytes, np.bytes_)):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v[()]
    return v.item() if isinstance(v, np.generic) else v


def _check_dataset(f, key, shape, where):
    name = f"{f.name}/{key}".lstrip("/")
    if key not in f or not isinstance(f[key], h5py.Dataset):
        raise KeyError(f"{where}: no dataset '{name}'")
    d = f[key]
    if tuple(d.shape) != tuple(shape):
        raise ValueError(f"{where}: dataset '{name}': expected shape {list(shape)}, "
                         f"found {list(d.shape)}")
    if d.dtype.kind != "f":
        raise TypeError(f"{where}: dataset '{name}' is not floating point")
    data = np.asarray(d[()], dtype="<f4")
    if "crc32" in d.attrs and zlib.crc32(data.tobytes()) != int(d.attrs["crc32"]):
        raise ValueError(f"{where}: dataset '{name}' is corrupted (CRC-32 mismatch)")
    return torch.from_numpy(data.astype(np.float32))


def seal(path):
    """Writes the seal of the file at path (created with userblock_size=SEAL_BYTES) into its
    user block, as gnet_ckpt_save does: after any edit of a sealed file, seal it again."""
    with open(path, "r+b") as f:
        data = f.read()
        if data[SEAL_BYTES:SEAL_BYTES + 8] != HDF5_SIGNATURE:
            raise ValueError(f"{path}: no user block of {SEAL_BYTES} bytes to seal")
        head = f"gnet-seal 1\nbytes {len(data)}\ncrc32 {zlib.crc32(data[SEAL_BYTES:]):08x}\n"
        f.seek(0)
        f.write(head.encode().ljust(SEAL_BYTES, b"\0"))


def check_seal(path):
    """Raises ValueError if the file at path is sealed and does not match its seal."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] == HDF5_SIGNATURE:
        return
    head = data[:SEAL_BYTES].split(b"\0")[0].decode(errors="replace").split("\n")
    if len(head) < 3 or head[0] != "gnet-seal 1":
        raise ValueError(f"{path}: not a sealed gnet checkpoint")
    if head[1] != f"bytes {len(data)}" or head[2] != f"crc32 {zlib.crc32(data[SEAL_BYTES:]):08x}":
        raise ValueError(f"{path}: damaged: the file does not match its seal")


def load_ckpt(net, path, optimizer=None):
    """Loads a gnet checkpoint into net (strict: every state_dict key must be a dataset of
    the right shape and no other dataset may sit at the root). With optimizer (a
    torch.optim.SGD over net.parameters()), also loads /optimizer into its momentum
    buffers. Returns the /meta attributes as a dict ({} when the file has none)."""
    sd = net.state_dict()
    check_seal(path)
    with h5py.File(path, "r") as f:
        version = _decode(f.attrs.get("version", CKPT_VERSION))
        if not 1 <= int(version) <= CKPT_VERSION:
            raise ValueError(f"{path}: unsupported checkpoint version {version}")
        new = {k: _check_dataset(f, k, v.shape, path) for k, v in sd.items()}
        extra = [k for k, v in f.items() if isinstance(v, h5py.Dataset) and k not in sd]
        if extra:
            raise KeyError(f"{path}: unexpected datasets {extra}")
        net.load_state_dict(new, strict=True)
        if optimizer is not None:
            if OPT_GROUP not in f:
                raise KeyError(f"{path}: no '{OPT_GROUP}' group")
            g = f[OPT_GROUP]
            for k, p in net.named_parameters():
                buf = _check_dataset(g, k, p.shape, path)
                optimizer.state[p]["momentum_buffer"] = buf.to(p.device).clone()
        meta = {}
        if META_GROUP in f:
            meta = {k: _decode(v) for k, v in f[META_GROUP].attrs.items()}
    return meta


def save_ckpt(net, path, optimizer=None, meta=None):
    """Writes net (and, with optimizer, its SGD momentum buffers; zeros where a parameter
    has none yet) in the gnet format, atomically (PATH.tmp.<pid>, then rename). meta: a dict
    overriding the /meta defaults (zeros; lr/momentum/weight_decay from the optimizer)."""
    m = {k: 0 for k in META_TYPES}
    m["config"] = "python save_ckpt"
    if optimizer is not None:
        group = optimizer.param_groups[0]
        for k in ("lr", "momentum", "weight_decay"):
            m[k] = group.get(k, 0.0)
    m.update(meta or {})
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with h5py.File(tmp, "w", userblock_size=SEAL_BYTES) as f:
            _write_contents(f, net, optimizer, m)
        seal(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _put_tensor(group, key, tensor):
    data = tensor.detach().cpu().numpy().astype("<f4")
    group.create_dataset(key, data=data).attrs["crc32"] = np.uint32(zlib.crc32(data.tobytes()))


def _write_contents(f, net, optimizer, meta):
    f.attrs["format"] = np.bytes_(CKPT_FORMAT)
    f.attrs["version"] = np.int32(CKPT_VERSION)
    for k, v in net.state_dict().items():
        _put_tensor(f, k, v)
    if optimizer is not None:
        g = f.create_group(OPT_GROUP)
        for k, p in net.named_parameters():
            buf = optimizer.state.get(p, {}).get("momentum_buffer")
            buf = torch.zeros_like(p) if buf is None else buf
            _put_tensor(g, k, buf)
    g = f.create_group(META_GROUP)
    for k, t in META_TYPES.items():
        g.attrs[k] = t(meta[k])
    g.attrs["config"] = np.bytes_(str(meta["config"]).encode("utf-8"))


def _self_check():
    import tempfile

    net = xavier_init(make_net(), 0)
    n = sum(p.numel() for p in net.parameters())
    assert n == 5977530, n
    x = torch.rand(1, 1, 96, 96)
    shapes = []
    for layer in net:
        x = layer(x)
        shapes.append(tuple(x.shape[1:]))
    want = [(64, 24, 24), (192, 12, 12), (480, 6, 6), (832, 3, 3), (1024,), (10,)]
    assert shapes == want, shapes
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "net.h5")
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
        for p in net.parameters():
            opt.state[p]["momentum_buffer"] = torch.randn_like(p)
        save_ckpt(net, path, opt, {"epoch": 3, "seed": 2**63 + 5, "config": "x y"})
        assert sorted(os.listdir(d)) == ["net.h5"]
        net2 = xavier_init(make_net(), 1)
        opt2 = torch.optim.SGD(net2.parameters(), lr=0.05, momentum=0.9)
        meta = load_ckpt(net2, path, opt2)
        for (k, a), b in zip(net.state_dict().items(), net2.state_dict().values()):
            assert torch.equal(a, b), k
        for p, q in zip(net.parameters(), net2.parameters()):
            assert torch.equal(opt.state[p]["momentum_buffer"],
                               opt2.state[q]["momentum_buffer"])
        assert meta["epoch"] == 3 and meta["seed"] == 2**63 + 5 and meta["config"] == "x y"
        assert meta["lr"] == 0.05 and meta["momentum"] == 0.9
    print(f"ok: {n} parameters, block outputs {shapes}, checkpoint round trip")


if __name__ == "__main__":
    _self_check()
