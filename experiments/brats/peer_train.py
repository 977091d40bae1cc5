#!/usr/bin/env python3
"""The PyTorch twin of run.ts's unetpp3d run (issue 17 part 8): the peer's 3D UNet++ (instance
norm, deep supervision; /work/shared/peer/torch_unetpp.py, imported, not copied) trained on the
very batches our trainer takes (dump-patches.ts: one safetensors file per epoch) from our initial
weights (init.safetensors there), with Adam as ours (lr from the dump's manifest, betas 0.9/0.999,
eps 1e-8, bias correction: torch.optim.Adam's defaults) and the peer's bce_dice (0.5 BCE + 1 -
soft Dice per image, all planes together: our bce_dice) averaged over the four heads, fp32.

Every --save-every epochs (default 4: every epoch run.ts validates, at its validateEvery of 8
or a multiple of 4 of an earlier setting) and the last, the weights are saved as a PyTorch
state_dict in safetensors with our names (epoch-NNN.safetensors); `run.js --only unetpp3d-peer`
then validates the epochs our run validated and scores the best with our code. Resumable: after
every epoch the model, the optimiser and the history go to state.pt atomically (tmp, then
os.replace), and a restart continues after the last finished epoch. log.jsonl: one line an
epoch (train loss, seconds, seconds per step), rewritten from state.pt.

  /usr/bin/python3 experiments/brats/peer_train.py [--patches /tmp/brats-patches] [--out DIR]
      [--epochs N] [--threads 2] [--channels-last]
--out defaults to $BRATS_OUT/runs/unetpp3d-peer, else runs/unetpp3d-peer beside this script.
"""
import argparse, json, math, os, statistics, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.environ.get('UNETPP_PEER', os.path.join(HERE, '..', '..', '..', 'shared', 'peer', 'torch_unetpp.py'))


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--patches', default='/tmp/brats-patches', help='the dump of dump-patches.ts')
    p.add_argument('--out', default=os.path.join(os.environ.get('BRATS_OUT', HERE), 'runs', 'unetpp3d-peer'))
    p.add_argument('--epochs', type=int, help='default: the epochs dumped')
    p.add_argument('--save-every', type=int, default=4, help='save the weights every n epochs and after the last')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--channels-last', action='store_true',
                   help='channels_last_3d (the peer is faster without it for 3D training: 7.74 vs 7.91 s a 64^3 step, docs/bench)')
    p.add_argument('--perturb', type=float, default=0.0,
                   help='multiply every initial weight by (1 + x * N(0, 1)), seed 1: another float32 trajectory of the same '
                        'run (x = 1e-7, about one float32 ulp), to measure how far two runs drift apart from rounding alone')
    a = p.parse_args()

    sys.path.insert(0, os.path.dirname(os.path.abspath(PEER)))
    import torch
    import torch_unetpp as P
    sys.path.insert(0, os.path.join(HERE, '..', 'common'))
    import patch_dump
    import peer_state
    P.DIMS, P.NORM = 3, 'instance'
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)  # nothing random is drawn in training; set for good measure

    with open(os.path.join(a.patches, 'manifest.json')) as f:
        man = json.load(f)
    cfg, opts, optim = man['model'], man['options'], man['optimizer']
    if opts['loss'] != {'kind': 'bce_dice', 'bceWeight': 0.5}:
        sys.exit(f"the dump's loss is {opts['loss']}; torch_unetpp.bce_dice is bce_dice with bceWeight 0.5")
    if optim['kind'] != 'adam' or set(optim) - {'kind', 'lr'}:
        sys.exit(f"the dump's optimiser is {optim}; this script runs Adam with torch's defaults but lr")
    if cfg['arch'] != 'unetpp' or cfg['dims'] != 3 or cfg['norm'] != 'instance' or cfg['multiclass'] != 'sigmoid' or not cfg['deepSupervision'] or cfg['preset'] != 'bn' or cfg['upsample'] != 'bilinear':
        sys.exit(f"the dump's model {cfg} is not the peer's 3D UNet++ with deep supervision and instance norm")
    epochs = a.epochs or man['epochs']
    every = a.save_every
    if epochs > man['epochs']:
        sys.exit(f"{a.patches} holds {man['epochs']} epochs, --epochs is {epochs}: dump more first")

    model = P.NestedUNet(cfg['classes'], cfg['inChannels'], True, tuple(cfg['filters']))
    init, _ = P.load_safetensors(os.path.join(a.patches, 'init.safetensors'))
    if a.perturb:
        g = torch.Generator().manual_seed(1)
        init = {k: (v * (1 + a.perturb * torch.randn(v.shape, generator=g, dtype=torch.float64))).to(v.dtype) if v.is_floating_point() else v
                for k, v in init.items()}
    model.load_state_dict(init, strict=True)
    fmt = torch.channels_last_3d if a.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), lr=optim['lr'])
    meta = {'arch': 'unetpp', 'filters': ','.join(map(str, cfg['filters'])), 'in_channels': cfg['inChannels'], 'classes': cfg['classes'],
            'deep_supervision': 'True', 'outputs': 'logits', 'upsample': 'trilinear align_corners=True', 'preset': 'bn',
            'bn_eps': '1e-05', 'bn_momentum': '0.1', 'dims': '3', 'norm': 'instance'}

    os.makedirs(a.out, exist_ok=True)
    state_path, log_path = os.path.join(a.out, 'state.pt'), os.path.join(a.out, 'log.jsonl')
    history, epoch0 = peer_state.resume(torch, state_path, model, opt)

    replace, write_text = peer_state.replace, peer_state.write_text

    def write_log():
        write_text(log_path, ''.join(json.dumps(h) + '\n' for h in history))

    run = {'engine': 'pytorch', 'torch': torch.__version__, 'peer': os.path.abspath(PEER), 'threads': a.threads,
           'channels_last': a.channels_last, 'perturb': a.perturb, 'precision': 'fp32', 'epochs': epochs, 'save_every': every,
           'optimizer': {'kind': 'adam', 'lr': optim['lr'], 'betas': list(opt.defaults['betas']), 'eps': opt.defaults['eps']},
           'loss': 'torch_unetpp.bce_dice averaged over the heads', 'patches': os.path.abspath(a.patches)}
    write_text(os.path.join(a.out, 'run.json'), json.dumps(run, indent=1) + '\n')
    write_log()
    model.train()  # instance norm: the same statistics in train and eval mode; no dropout

    for epoch in range(epoch0 + 1, epochs + 1):
        t0 = time.perf_counter()
        path = os.path.join(a.patches, f'epoch-{epoch:03d}.safetensors')
        _, batches = patch_dump.read_epoch(path, expect_epoch=epoch)  # every batch checked against its sha256
        losses, step_s = [], []
        for x, y, _ in batches:
            x = x.contiguous(memory_format=fmt)
            ts = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            outs = model(x)
            loss = sum(P.bce_dice(o, y) for o in outs) / len(outs)
            loss.backward()
            opt.step()
            step_s.append(time.perf_counter() - ts)
            losses.append(loss.item())
            if not math.isfinite(losses[-1]):
                sys.exit(f'non-finite loss at epoch {epoch}, step {b + 1}')
        saved = None
        if epoch % every == 0 or epoch == epochs:
            saved = f'epoch-{epoch:03d}.safetensors'
            wmeta = {**meta, 'epoch': epoch, 'trained_by': f'pytorch {torch.__version__} (experiments/brats/peer_train.py)'}
            replace(os.path.join(a.out, saved), lambda t: P.save_safetensors(t, model.state_dict(), wmeta))
        rec = {'epoch': epoch, 'train_loss': sum(losses) / len(losses), 'steps': len(losses), 'seconds': time.perf_counter() - t0,
               'step_s_median': statistics.median(step_s), 'step_s': step_s, 'losses': losses, 'saved': saved}
        history.append(rec)
        replace(state_path, lambda t: torch.save({'epoch': epoch, 'model': model.state_dict(), 'optim': opt.state_dict(), 'history': history}, t))
        write_log()
        print(f"epoch {epoch}/{epochs} loss {rec['train_loss']:.4f} ({rec['seconds']:.1f} s, {rec['step_s_median']:.2f} s/step)"
              + (f' -> {saved}' if saved else ''), flush=True)
    print(f'peer: {a.out} done ({epochs} epochs)', flush=True)


if __name__ == '__main__':
    main()
