import torch, json
torch.set_default_dtype(torch.float64)
p0 = [0.5, -1.5, 2.0, 0.0]
gs = [[0.1, -0.2, 0.3, 0.0], [-1.0, 0.5, 0.25, 2.0], [0.3, 0.3, -0.7, -0.1]]
def run(make):
    p = torch.tensor(p0, requires_grad=True)
    opt = make([p])
    for g in gs:
        p.grad = torch.tensor(g)
        opt.step()
    return [round(x, 12) for x in p.detach().tolist()]
out = {
 'adam': run(lambda ps: torch.optim.Adam(ps, lr=0.1)),
 'adam_l2': run(lambda ps: torch.optim.Adam(ps, lr=0.1, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.1)),
 'adamw': run(lambda ps: torch.optim.AdamW(ps, lr=0.1, weight_decay=0.1)),
 'sgd': run(lambda ps: torch.optim.SGD(ps, lr=0.1)),
 'sgd_mom': run(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01)),
 'sgd_nest': run(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True)),
 'sgd_damp': run(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.5, dampening=0.3)),
}
g1 = torch.tensor([3.0, 4.0]); g2 = torch.tensor([12.0])
a = torch.tensor([0.,0.], requires_grad=True); b = torch.tensor([0.], requires_grad=True)
a.grad = g1.clone(); b.grad = g2.clone()
n = torch.nn.utils.clip_grad_norm_([a, b], 6.5)
out['clip'] = {'norm': n.item(), 'a': a.grad.tolist(), 'b': b.grad.tolist()}
# plateau
q = torch.tensor([1.0], requires_grad=True)
o = torch.optim.SGD([q], lr=1.0)
s = torch.optim.lr_scheduler.ReduceLROnPlateau(o, mode='max', factor=0.5, patience=2, cooldown=1, min_lr=0.1)
seq = [0.5, 0.6, 0.6, 0.59, 0.6, 0.61, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
lrs = []
for m in seq:
    s.step(m); lrs.append(o.param_groups[0]['lr'])
out['plateau'] = {'seq': seq, 'lrs': lrs}
q = torch.tensor([1.0], requires_grad=True)
o = torch.optim.SGD([q], lr=1.0)
s = torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.1)
lrs=[o.param_groups[0]['lr']]
for i in range(12):
    o.step(); s.step(); lrs.append(o.param_groups[0]['lr'])
out['cosine'] = lrs
print(json.dumps(out))
