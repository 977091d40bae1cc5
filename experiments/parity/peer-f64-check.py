#!/usr/bin/env python3
"""How far is the peer's own float32 export from float64 PyTorch? Re-runs the peer model of an
export directory (default: the one experiments/parity/full.ts writes) in float64 and prints the
max differences of d loss/d x and of every gradient from the exported float32 values. If these
equal our float64 engine's differences from the peer, the gap is the peer's float32 rounding.
  /usr/bin/python3 experiments/parity/peer-f64-check.py [DIR]"""
import json, sys
sys.path.insert(0, '/work/shared/peer')
import torch
import torch_unetpp as P

d = sys.argv[1] if len(sys.argv) > 1 else '/tmp/unetpp-parity-full'
w, meta = P.load_safetensors(f'{d}/weights.safetensors')
io, _ = P.load_safetensors(f'{d}/io.safetensors')
grads, _ = P.load_safetensors(f'{d}/grads.safetensors')
filters = tuple(int(v) for v in meta['filters'].split(','))
P.DIMS, P.NORM = int(meta.get('dims', 2)), meta.get('norm', 'batch')  # volumes: set before build
for mode in ('eval', 'train'):
    m = P.build(meta['arch'], int(meta['in_channels']), meta['deep_supervision'] == 'True', filters)
    m.load_state_dict(w)
    m = m.double().train(mode == 'train')
    x = io['x'].double().requires_grad_()
    outs = P.outputs_list(m(x))
    loss = sum(P.bce_dice(o, io['t'].double()) for o in outs) / len(outs)
    loss.backward()
    worst = max(((p.grad - grads[f'{mode}/{k}'].double()).abs().max().item(), k) for k, p in m.named_parameters())
    print(json.dumps({'mode': mode, 'loss_diff': abs(loss.item() - io[f'loss_{mode}'].item()),
                      'dx_diff': (x.grad - io[f'dx_{mode}'].double()).abs().max().item(), 'dx_max': x.grad.abs().max().item(),
                      'worst_grad': worst[1], 'worst_grad_diff': worst[0]}))
