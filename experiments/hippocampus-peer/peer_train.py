#!/usr/bin/env python3
"""The PyTorch side of the Hippocampus time-to-accuracy run: the peer's 3D UNet++ (instance norm,
deep supervision; /work/shared/peer/torch_unetpp.py, imported, not copied) trained on the very
batches `unetpp train --plan PLAN` takes (dump-patches.ts: one file per epoch) from its initial
weights (init.safetensors there), with Adam as ours (the manifest's lr, betas 0.9/0.999, eps 1e-8,
bias correction: torch.optim.Adam's defaults; constant lr) and our softmax loss, ce_dice (below),
averaged over the heads. fp32, or --precision bf16: torch.autocast('cpu', bfloat16) around the
forward, the loss in float32 (as our bf16: float32 weights, optimiser state and loss).

It trains until --minutes of training time have passed (checked after each epoch, as our
trainer's time limit) or the dump runs out, and every --save-every epochs (and after the last) saves the weights as a
PyTorch state_dict in safetensors with our names (epoch-NNN.safetensors) and a line in
snapshots.jsonl with the cumulative training seconds; validate.ts validates them with our
trainer's validation function. Training time counts the epoch's file reads and steps (ours: its
loader and steps), not the checksum checks nor the saving of weights and state.
Resumable: after every epoch the model, the optimiser and the history go to state.pt atomically.

  /usr/bin/python3 experiments/hippocampus-peer/peer_train.py [--precision fp32|bf16] [--patches DIR]
      [--out DIR] [--minutes 65] [--save-every 1] [--threads 2] [--channels-last] [--step1]
--out defaults to $HIPPO_PEER_OUT/runs/peer-<precision>, else runs/peer-<precision> beside this script.
--step1: print the step-1 loss (epoch 1, batch 0, the initial weights) as JSON and exit.
"""
import argparse, json, math, os, statistics, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.environ.get('UNETPP_PEER', os.path.join(HERE, '..', '..', '..', 'shared', 'peer', 'torch_unetpp.py'))
SMOOTH = 1e-5
DEFAULT_DICE = {'background': True, 'batch': False}


def ce_dice(logits, target, background=True, batch=False):
    """Our ce_dice (src/engine/backends/reference/loss.ts): the cross-entropy of the channel
    softmax, mean over the voxels of the batch, plus 1 - the mean over (image, class) of soft
    Dice (2 sum(p t) + 1e-5) / (sum p + sum t + 1e-5), p the softmax; background=False leaves
    class 0 out of the Dice mean (loss option diceBackground), batch=True takes the sums of each
    class over the whole batch (loss option batchDice)."""
    import torch
    logp = torch.log_softmax(logits, 1)
    ce = -(target * logp).sum(1).mean()
    p = logp.exp().flatten(2)
    t = target.flatten(2)
    dims = (0, 2) if batch else (2,)
    dice = (2 * (p * t).sum(dims) + SMOOTH) / (p.sum(dims) + t.sum(dims) + SMOOTH)
    if not background:
        dice = dice[..., 1:]
    return ce + (1 - dice.mean())


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--patches', default='/tmp/hippocampus-patches', help='the dump of dump-patches.ts')
    p.add_argument('--precision', default='fp32', choices=['fp32', 'bf16'])
    p.add_argument('--out', help='default: $HIPPO_PEER_OUT/runs/peer-<precision>, else runs/ beside this script')
    p.add_argument('--minutes', type=float, default=65, help='training time after which no new epoch starts')
    p.add_argument('--save-every', type=int, default=1, help='save the weights every n epochs and after the last')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--channels-last', action='store_true', help='channels_last_3d tensors (default NCDHW)')
    p.add_argument('--step1', action='store_true', help='print the step-1 loss as JSON and exit')
    a = p.parse_args()
    out = a.out or os.path.join(os.environ.get('HIPPO_PEER_OUT', HERE), 'runs', f'peer-{a.precision}')

    sys.path.insert(0, os.path.dirname(os.path.abspath(PEER)))
    sys.path.insert(0, os.path.join(HERE, '..', 'common'))
    import torch
    import torch_unetpp as P
    import patch_dump
    import peer_state
    P.DIMS, P.NORM = 3, 'instance'
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)  # nothing random is drawn in training

    with open(os.path.join(a.patches, 'manifest.json')) as f:
        man = json.load(f)
    cfg, optim = man['model'], man['optimizer']
    spec = man['loss']
    known = {'kind', 'bceWeight', 'diceBackground', 'batchDice'}
    if spec.get('kind') != 'ce_dice' or spec.get('headWeights') or set(spec) - known:
        sys.exit(f"the dump's loss is {spec}; this script has ce_dice (its Dice options) with equal head weights")
    dice_opts = {'background': spec.get('diceBackground', True) is not False, 'batch': spec.get('batchDice') is True}
    if optim['kind'] != 'adam' or optim.get('weightDecay') or optim.get('decoupled'):
        sys.exit(f"the dump's optimiser is {optim}; this script runs Adam without weight decay")
    if man['schedule'].get('kind') != 'constant' or man['clipNorm'] is not None:
        sys.exit(f"the dump's schedule is {man['schedule']} (clip {man['clipNorm']}); this script has a constant lr, no clipping")
    if (cfg['arch'] != 'unetpp' or cfg['dims'] != 3 or cfg['norm'] != 'instance' or cfg['multiclass'] != 'softmax'
            or not cfg['deepSupervision'] or cfg['preset'] != 'bn' or cfg['upsample'] != 'bilinear'):
        sys.exit(f"the dump's model {cfg} is not the peer's 3D softmax UNet++ with deep supervision and instance norm")

    model = P.NestedUNet(cfg['classes'], cfg['inChannels'], True, tuple(cfg['filters']))
    init, _ = P.load_safetensors(os.path.join(a.patches, 'init.safetensors'))
    model.load_state_dict(init, strict=True)
    fmt = torch.channels_last_3d if a.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    model.train()  # instance norm: the same statistics in train and eval mode; no dropout
    opt = torch.optim.Adam(model.parameters(), lr=optim['lr'])
    bf16 = a.precision == 'bf16'

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            outs = model(x.contiguous(memory_format=fmt))
        loss = sum(ce_dice(o.float(), y, **dice_opts) for o in outs) / len(outs)
        loss.backward()
        opt.step()
        return loss.item()

    if a.step1:
        _, batches = patch_dump.read_epoch(os.path.join(a.patches, 'epoch-001.safetensors'), expect_epoch=1)
        x, y, info = batches[0]
        print(json.dumps({'loss': step(x, y), 'precision': a.precision, 'torch': torch.__version__, 'sha256': info['sha256']}))
        return

    meta = {'arch': 'unetpp', 'filters': ','.join(map(str, cfg['filters'])), 'in_channels': cfg['inChannels'],
            'classes': cfg['classes'], 'deep_supervision': 'True', 'outputs': 'logits', 'upsample': 'trilinear align_corners=True',
            'preset': 'bn', 'dims': '3', 'norm': 'instance', 'multiclass': 'softmax'}
    os.makedirs(out, exist_ok=True)
    state_path, log_path, snap_path = (os.path.join(out, f) for f in ('state.pt', 'log.jsonl', 'snapshots.jsonl'))
    history, epoch0 = peer_state.resume(torch, state_path, model, opt)

    replace, write_text = peer_state.replace, peer_state.write_text

    def write_logs():
        # both rewritten from the history (state.pt), so a resumed run's files hold every epoch once
        write_text(log_path, ''.join(json.dumps(h) + '\n' for h in history))
        write_text(snap_path, ''.join(json.dumps({k: h[k] for k in ('epoch', 'steps', 'seconds', 'trainLoss', 'file')}) + '\n'
                                      for h in history if h['file']))

    run = {'engine': 'pytorch', 'torch': torch.__version__, 'peer': os.path.abspath(PEER), 'threads': a.threads,
           'channels_last': a.channels_last, 'precision': a.precision, 'minutes': a.minutes, 'save_every': a.save_every,
           'optimizer': {'kind': 'adam', 'lr': optim['lr'], 'betas': list(opt.defaults['betas']), 'eps': opt.defaults['eps']},
           'loss': 'ce_dice (peer_train.py) averaged over the heads' + (f', Dice {dice_opts}' if dice_opts != DEFAULT_DICE else ''),
           'patches': os.path.abspath(a.patches),
           'plan': man['plan']}
    write_text(os.path.join(out, 'run.json'), json.dumps(run, indent=1) + '\n')
    write_logs()
    limit = a.minutes * 60
    seconds = history[-1]['seconds'] if history else 0.0
    epoch = epoch0
    while seconds < limit:
        epoch += 1
        path = os.path.join(a.patches, f'epoch-{epoch:03d}.safetensors')
        if epoch > man['epochs'] or not os.path.exists(path):
            print(f'the dump ends after epoch {epoch - 1} ({seconds:.0f} s of {limit:.0f}): dump more epochs to go on', flush=True)
            break
        t0 = time.perf_counter()
        _, batches = patch_dump.read_epoch(path, expect_epoch=epoch, verify=False)
        t_read = time.perf_counter() - t0
        tc = time.perf_counter()
        patch_dump.verify_batches(path, batches)  # left out of the training time
        t_check = time.perf_counter() - tc
        losses, step_s = [], []
        for x, y, _ in batches:
            ts = time.perf_counter()
            losses.append(step(x, y))
            step_s.append(time.perf_counter() - ts)
            if not math.isfinite(losses[-1]):
                sys.exit(f'non-finite loss at epoch {epoch}, step {len(losses)}')
        # cumulative training seconds: the epoch's reads and steps, not the checksum checks nor the saving
        # (our trainer's epoch time is its loader and steps, before its checkpoint)
        seconds += time.perf_counter() - t0 - t_check
        saved = None
        if epoch % a.save_every == 0:
            saved = f'epoch-{epoch:03d}.safetensors'
            wmeta = {**meta, 'epoch': epoch, 'trained_by': f'pytorch {torch.__version__} {a.precision} (experiments/hippocampus-peer)'}
            replace(os.path.join(out, saved), lambda t: P.save_safetensors(t, model.state_dict(), wmeta))
        steps = (history[-1]['steps'] if history else 0) + len(losses)
        rec = {'epoch': epoch, 'trainLoss': sum(losses) / len(losses), 'steps': steps, 'seconds': seconds, 'file': saved,
               'step_s_median': statistics.median(step_s), 'read_s': t_read, 'check_s': t_check, 'step_s': step_s, 'losses': losses}
        history.append(rec)
        replace(state_path, lambda t: torch.save({'epoch': epoch, 'model': model.state_dict(), 'optim': opt.state_dict(),
                                                   'history': history}, t))
        write_logs()
        print(f"epoch {epoch} loss {rec['trainLoss']:.4f} ({seconds:.0f} s, {rec['step_s_median']:.3f} s/step)"
              + (f' -> {saved}' if saved else ''), flush=True)
    if history and not history[-1]['file']:
        # the last epoch's weights too (the snapshot carries its seconds)
        h = history[-1]
        h['file'] = f"epoch-{h['epoch']:03d}.safetensors"
        replace(os.path.join(out, h['file']), lambda t: P.save_safetensors(t, model.state_dict(), {**meta, 'epoch': h['epoch']}))
        replace(state_path, lambda t: torch.save({'epoch': h['epoch'], 'model': model.state_dict(), 'optim': opt.state_dict(),
                                                   'history': history}, t))
        write_logs()
    print(f'peer-{a.precision}: {out} done ({len(history)} epochs, {seconds:.0f} s)', flush=True)


if __name__ == '__main__':
    main()
