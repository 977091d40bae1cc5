# Keeps the PyTorch peer's model loaded and times its inference or training steps on request, so
# that `unetpp bench` can alternate ours and the peer's in rounds (both measured in the same
# minutes of a machine whose speed drifts). Model and settings as the peer's own `bench` command:
# its build(), bf16 autocast and channels_last when asked, Adam 3e-4 on BCE + Dice over the heads,
# the same training steps first (its inference measures ~10% faster after them than in a fresh
# process); inference in eval mode under no_grad.
# Protocol: one JSON line {"ready": ...} at start; then "infer K" or "train K" on stdin ->
# {"ms": [K times]}; "quit" or end of input ends.
import argparse, importlib.util, json, sys, time

import torch

p = argparse.ArgumentParser()
p.add_argument('--peer', required=True, help='path of torch_unetpp.py')
p.add_argument('--batch', type=int, default=16)
p.add_argument('--size', type=int, default=96)
p.add_argument('--channels', type=int, default=3)
p.add_argument('--threads', type=int, default=2)
p.add_argument('--warmup', type=int, default=2)
p.add_argument('--train-steps', type=int, default=12, help="the peer bench's warmup + timed steps")
p.add_argument('--ds', action='store_true')
p.add_argument('--channels-last', action='store_true')
p.add_argument('--bf16', action='store_true')
p.add_argument('--dims', type=int, default=2, choices=[2, 3], help='3: volumes, --size^3')
p.add_argument('--norm', default='batch', choices=['batch', 'instance'])
p.add_argument('--filters', type=lambda v: tuple(int(x) for x in v.split(',')), default=(32, 64, 128, 256, 512))
a = p.parse_args()

spec = importlib.util.spec_from_file_location('torch_unetpp', a.peer)
peer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(peer)
peer.DIMS, peer.NORM = a.dims, a.norm  # read by the peer's layer factories when build() runs

torch.set_num_threads(a.threads)
torch.manual_seed(0)
m = peer.build('unetpp', a.channels, a.ds, a.filters)
sides = (a.size,) * a.dims
x = torch.randn(a.batch, a.channels, *sides)
y = (torch.rand(a.batch, 1, *sides) > 0.5).float()
if a.channels_last:
    fmt = torch.channels_last if a.dims == 2 else torch.channels_last_3d
    m = m.to(memory_format=fmt)
    x = x.contiguous(memory_format=fmt)
ac = torch.autocast('cpu', dtype=torch.bfloat16, enabled=a.bf16)

opt = torch.optim.Adam(m.parameters(), 3e-4)


def train_step():
    opt.zero_grad(set_to_none=True)
    with ac:
        out = m(x)
    outs = out if isinstance(out, list) else [out]
    (sum(peer.bce_dice(o.float(), y) for o in outs) / len(outs)).backward()
    opt.step()


def infer_step():
    with torch.no_grad(), ac:
        m(x)


def timed(kind, k):
    m.train(kind == 'train')
    step = train_step if kind == 'train' else infer_step
    ms = []
    for _ in range(k):
        t = time.perf_counter()
        step()
        ms.append((time.perf_counter() - t) * 1e3)
    m.eval()
    return ms


timed('train', a.train_steps)
timed('infer', a.warmup)
print(json.dumps({'ready': True, 'torch': torch.__version__, 'params': sum(q.numel() for q in m.parameters())}), flush=True)
for line in sys.stdin:
    cmd = line.split()
    if not cmd or cmd[0] == 'quit':
        break
    if cmd[0] not in ('infer', 'train') or len(cmd) != 2 or not cmd[1].isdigit():
        print(json.dumps({'error': f'unknown command: {line.strip()}'}), flush=True)
        continue
    print(json.dumps({'ms': timed(cmd[0], int(cmd[1]))}), flush=True)
