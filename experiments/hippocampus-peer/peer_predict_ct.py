#!/usr/bin/env python3
"""The PyTorch peer predicting one CT volume by sliding windows (ct-predict.ts runs it): the
peer's 3D UNet++ (torch_unetpp.py, imported; instance norm, deep supervision) with weights
exported by unetpp, eval, no_grad, windows of 64^3 at `unetpp predict`'s defaults (overlap 0.25,
starts spread evenly so the last window ends at the border; Gaussian weights, sigma = window / 8,
floored at 1e-3 of the peak), 4 windows a run, the mean of the heads' sigmoids. The input is the
normalised float32 volume [Z, Y, X] (no nibabel here). Prints one JSON line: the seconds of the
windows and blending (not the file read), the window count and the peak RSS."""
import argparse, json, math, os, resource, sys, time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.environ.get('UNETPP_PEER', os.path.join(HERE, '..', '..', '..', 'shared', 'peer', 'torch_unetpp.py'))


def starts(size, tile, overlap):
    if tile >= size:
        return [0]
    stride = max(1, math.floor(tile * (1 - overlap)))
    n = math.ceil((size - tile) / stride) + 1
    return [round(i * (size - tile) / (n - 1)) for i in range(n)]


def profile(n):
    mid, sigma = (n - 1) / 2, n / 8
    w = np.exp(-((np.arange(n) - mid) ** 2) / (2 * sigma * sigma)).astype(np.float32)
    return np.maximum(w, 1e-3 * w.max())


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--weights', required=True)
    p.add_argument('--volume', required=True, help='raw float32 [Z, Y, X]')
    p.add_argument('--size', required=True, help='Z,Y,X')
    p.add_argument('--precision', default='fp32', choices=['fp32', 'bf16'])
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--tile', type=int, default=64)
    p.add_argument('--overlap', type=float, default=0.25)
    p.add_argument('--batch', type=int, default=4)
    a = p.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(PEER)))
    import torch
    import torch_unetpp as P
    P.DIMS, P.NORM = 3, 'instance'
    torch.set_num_threads(a.threads)

    sd, meta = P.load_safetensors(a.weights)
    filters = tuple(int(f) for f in meta['filters'].split(','))
    model = P.NestedUNet(int(meta['classes']), int(meta['in_channels']), True, filters).eval()
    model.load_state_dict(sd, strict=True)
    size = [int(s) for s in a.size.split(',')]
    vol = torch.from_numpy(np.fromfile(a.volume, dtype=np.float32).reshape(size))

    t0 = time.perf_counter()
    tile = [min(a.tile, s) for s in size]
    axes = [starts(s, t, a.overlap) for s, t in zip(size, tile)]
    wins = [(z, y, x) for z in axes[0] for y in axes[1] for x in axes[2]]
    prof = [torch.from_numpy(profile(t)) if len(st) > 1 else torch.ones(t) for t, st in zip(tile, axes)]
    weight = prof[0][:, None, None] * prof[1][None, :, None] * prof[2][None, None, :]
    acc = torch.zeros(size)
    norm = torch.zeros(size)
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16, enabled=a.precision == 'bf16'):
        for i in range(0, len(wins), a.batch):
            group = wins[i:i + a.batch]
            x = torch.stack([vol[z:z + tile[0], y:y + tile[1], x0:x0 + tile[2]] for z, y, x0 in group])[:, None]
            heads = model(x)
            prob = sum(torch.sigmoid(h.float()) for h in heads) / len(heads)
            for (z, y, x0), pr in zip(group, prob[:, 0]):
                acc[z:z + tile[0], y:y + tile[1], x0:x0 + tile[2]] += pr * weight
                norm[z:z + tile[0], y:y + tile[1], x0:x0 + tile[2]] += weight
    out = acc / norm
    s = time.perf_counter() - t0
    print(json.dumps({'peer': 'pytorch', 'torch': torch.__version__, 'size': size, 'precision': a.precision, 'threads': a.threads,
                      'windows': len(wins), 'seconds': s, 'mean_prob': float(out.mean()),
                      'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == '__main__':
    main()
