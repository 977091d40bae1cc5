"""What the PyTorch twins share besides the patches: files written whole or not at all, and the resume
from their state.pt (model, Adam state, history, last finished epoch)."""
import os


def replace(path, write):
    """write(tmp) then rename: a killed run never leaves a half-written file under `path`."""
    tmp = f'{path}.tmp'
    write(tmp)
    os.replace(tmp, path)


def write_text(path, text):
    def w(t):
        with open(t, 'w') as f:
            f.write(text)
    replace(path, w)


def resume(torch, state_path, model, opt):
    """(history, last finished epoch) from state.pt, loading the model and optimiser; ([], 0) without one."""
    if not os.path.exists(state_path):
        return [], 0
    st = torch.load(state_path)
    model.load_state_dict(st['model'])
    opt.load_state_dict(st['optim'])
    print(f'resumed from {state_path} after epoch {st["epoch"]}', flush=True)
    return st['history'], st['epoch']
