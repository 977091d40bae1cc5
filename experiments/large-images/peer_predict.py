"""The PyTorch peer predicting one large image (issue 15's comparison): UNet++ bn preset with
deep supervision, 3 channels, eval, no_grad, channels_last, accurate mode (mean of the heads'
sigmoids). Prints one JSON line: seconds of the forward and peak RSS of the process."""
import argparse, json, os, resource, sys, time

sys.path.insert(0, os.environ.get('UNETPP_PEER_DIR', os.path.join(os.path.dirname(__file__), '..', '..', '..', 'shared', 'peer')))
import torch  # noqa: E402
import torch_unetpp as peer  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument('--height', type=int, required=True)
p.add_argument('--width', type=int, required=True)
p.add_argument('--threads', type=int, default=2)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
m = peer.build('unetpp', 3, True).eval().to(memory_format=torch.channels_last)
x = torch.rand(1, 3, a.height, a.width).contiguous(memory_format=torch.channels_last)
t = time.perf_counter()
with torch.no_grad():
    heads = m(x)
    prob = sum(torch.sigmoid(h) for h in heads) / len(heads)
s = time.perf_counter() - t
print(json.dumps({'peer': 'pytorch', 'torch': torch.__version__, 'height': a.height, 'width': a.width, 'seconds': s,
                  'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 'mean_prob': float(prob.mean())}))
