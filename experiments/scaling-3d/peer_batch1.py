# Why the PyTorch peer is slow at batch 1 on volumes (docs/status.md, scaling table): one 3x3x3
# conv (C in = C out, padding 1), timed at batch 1 and 2 over the 3D UNet++'s level shapes.
# PyTorch 1.13's ConvParams::use_mkldnn skips oneDNN when the batch is 1, the kernel is not
# larger than 3 and N*C*D*H <= 20480 (a 2D heuristic, pytorch/pytorch#40610): those convs run
# the unfold-based slow_conv3d instead. Run: /usr/bin/python3 experiments/scaling-3d/peer_batch1.py
import json, time, torch

torch.set_num_threads(int(__import__('os').environ.get('THREADS', '2')))


def ms(n, c, s, reps=5):
    x, conv = torch.randn(n, c, s, s, s), torch.nn.Conv3d(c, c, 3, padding=1)
    with torch.no_grad():
        for _ in range(2): conv(x)
        t0 = time.perf_counter()
        for _ in range(reps): conv(x)
    return (time.perf_counter() - t0) / reps * 1000


rows = []
for c, s in [(256, 4), (128, 8), (64, 16), (32, 32), (16, 64)]:
    b1, b2 = ms(1, c, s), ms(2, c, s)
    rows.append({'channels': c, 'side': s, 'ncdh_batch1': c * s * s, 'oneDNN_at_batch1': c * s * s > 20480, 'batch1_ms': round(b1, 2), 'batch2_ms': round(b2, 2), 'batch2_per_sample_over_batch1': round(b2 / 2 / b1, 3)})
    print(json.dumps(rows[-1]))
print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads()}))
