"""Reading the patch dumps of experiments/common/patch-dump.ts from Python (the PyTorch twins'
training scripts): an epoch file's batches as float32 tensors, the targets as one-hot planes
whatever their stored encoding ('planes' float32 or 'index' uint8), each checked against the
sha256 the dump recorded of the trainer's float32 bytes. numpy and torch only (no safetensors
package here); the peer's own loader reads F32/F16/I64 but not U8.
"""
import hashlib, json, struct

import numpy as np
import torch

DTYPES = {'F32': np.float32, 'U8': np.uint8, 'I64': np.int64, 'F16': np.float16}


def read_safetensors(path):
    """{name: numpy array} and the metadata of a safetensors file."""
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop('__metadata__', {})
    out = {}
    for k, v in header.items():
        a, b = v['data_offsets']
        out[k] = np.frombuffer(data, dtype=DTYPES[v['dtype']], count=(b - a) // np.dtype(DTYPES[v['dtype']]).itemsize,
                               offset=a).reshape(v['shape'])
    return out, meta


def index_to_planes(idx, k):
    """uint8 class index [n, ...] -> one-hot float32 planes [n, k, ...]."""
    planes = np.zeros((idx.shape[0], k) + idx.shape[1:], dtype=np.float32)
    for c in range(k):
        planes[:, c][idx == c] = 1
    return planes


class EpochBatches:
    """An epoch file's batches, decoded one at a time (an epoch of float32 planes would hold all
    its targets at once: 0.7 GB for 250 Hippocampus batches): (x, y, info) by index or in order."""

    def __init__(self, arrays, meta):
        self.arrays, self.info = arrays, json.loads(meta['info'])
        self.index = meta.get('target') == 'index'  # older files hold planes and no 'target'
        self.classes = int(meta.get('classes', 0))

    def __len__(self):
        return len(self.info)

    def __getitem__(self, b):
        if not 0 <= b < len(self):
            raise IndexError(b)
        x = np.array(self.arrays[f'x{b:03d}'])  # writable copies for torch
        y = self.arrays[f'y{b:03d}']
        y = index_to_planes(y, self.classes) if self.index else np.array(y)
        return torch.from_numpy(x), torch.from_numpy(y), self.info[b]

    def __iter__(self):
        return (self[b] for b in range(len(self)))


def read_epoch(path, expect_epoch=None, verify=True):
    """(metadata, EpochBatches) of an epoch file: torch float32 tensors in the trainer's order;
    verify: each batch's float32 bytes against its recorded sha256 (exits on a mismatch)."""
    arrays, meta = read_safetensors(path)
    if meta.get('format') != 'unetpp-patch-epoch':
        raise SystemExit(f"{path}: not a patch epoch file (format {meta.get('format')})")
    if expect_epoch is not None and int(meta['epoch']) != expect_epoch:
        raise SystemExit(f"{path}: records epoch {meta['epoch']}, expected {expect_epoch}")
    if len(json.loads(meta['info'])) != int(meta['batches']):
        raise SystemExit(f'{path}: the metadata lists {len(json.loads(meta["info"]))} batches of {meta["batches"]}')
    batches = EpochBatches(arrays, meta)
    if verify:
        verify_batches(path, batches)
    return meta, batches


def verify_batches(path, batches):
    """Exits unless every batch's float32 bytes have the sha256 the dump recorded."""
    for b, (x, y, info) in enumerate(batches):
        if hashlib.sha256(x.numpy().tobytes() + y.numpy().tobytes()).hexdigest() != info['sha256']:
            raise SystemExit(f'{path}: batch {b} does not match its checksum')
