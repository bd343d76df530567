"""Write the PyTorch golden fixtures in tests/fixtures/ (format: tests/fixtures/README.md).

    python3 tools/make_goldens.py            # all fixtures
    python3 tools/make_goldens.py --ops      # op-level only
    python3 tools/make_goldens.py --list     # print name, shape of every tensor in every fixture

Everything is computed in float64 from float32-representable inputs and parameters, and
stored as float32. Seeds are fixed, so reruns give identical files (same torch version).
"""

import argparse
import json
import os
import struct
import sys

import torch
import torch.nn.functional as F
from safetensors import safe_open

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as ref  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
D = torch.float64

GOLDEN_CONFIG = {
    "name": "golden", "variant": "4", "image_size": 24, "frames": 3, "interval": 1,
    "stem": 4, "block": [5, 6, 4], "head": [5, 3], "off_reduce": 3, "off_out": 4,
    "gru_hidden": 3, "fc_hidden": 6, "alpha": 0.8, "beta": 0.9, "bn_eps": 1e-5,
    "bn_momentum": 0.1, "adadelta_rho": 0.95, "adadelta_eps": 1e-8,
    "stage1": {"lr": 0.003, "batch": 10}, "stage2": {"lr": 0.01, "batch": 2},
}


def rnd(*shape, scale=1.0, gen=None):
    """float32-representable random normal, as float64."""
    return (torch.randn(*shape, generator=gen) * scale).float().double()


def save(name, tensors, meta):
    path = os.path.join(OUT, f"{name}.safetensors")
    out = {k: v.detach().to(torch.float32).contiguous() for k, v in tensors.items()}
    meta = {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in meta.items()}
    write_safetensors(path, out, meta)
    print(f"wrote {path} ({os.path.getsize(path)} bytes, {len(out)} tensors)")


def write_safetensors(path, tensors, meta):
    """safetensors file with sorted header keys: byte-identical on every run (the library's
    writer orders metadata by a randomised hash map)."""
    header, blobs, off = {"__metadata__": dict(sorted(meta.items()))}, [], 0
    for k in sorted(tensors):
        b = tensors[k].numpy().astype("<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(tensors[k].shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def grads(out, gy, inputs):
    """d(sum(gy * out))/d(inputs)."""
    return torch.autograd.grad((out * gy).sum(), inputs)


def leaf(t):
    return t.clone().requires_grad_(True)


# ---------------------------------------------------------------- op-level fixtures


def op_conv():
    torch.manual_seed(101)
    x, w, b = leaf(rnd(2, 3, 7, 5)), leaf(rnd(4, 3, 3, 3, scale=0.3)), leaf(rnd(4, scale=0.1))
    y = F.conv2d(x, w, b, padding=1)
    gy = rnd(*y.shape)
    gx, gw, gb = grads(y, gy, [x, w, b])
    save("op_conv2d_3x3", dict(x=x, weight=w, bias=b, y=y, gy=gy, gx=gx, gweight=gw, gbias=gb),
         dict(op="conv2d", stride=1, padding=1, seed=101))

    torch.manual_seed(102)
    x, w = leaf(rnd(2, 3, 7, 5)), leaf(rnd(4, 3, 1, 1, scale=0.5))
    y = F.conv2d(x, w, None, padding=0)
    gy = rnd(*y.shape)
    gx, gw = grads(y, gy, [x, w])
    save("op_conv2d_1x1", dict(x=x, weight=w, y=y, gy=gy, gx=gx, gweight=gw),
         dict(op="conv2d", stride=1, padding=0, bias="none", seed=102))


def op_batchnorm():
    eps, mom = 1e-5, 0.1
    for training, seed in ((True, 103), (False, 104)):
        torch.manual_seed(seed)
        x = leaf(rnd(2, 3, 7, 5, scale=1.5) + torch.tensor([0.5, -1.0, 2.0], dtype=D).view(1, 3, 1, 1))
        w, b = leaf(1 + rnd(3, scale=0.2)), leaf(rnd(3, scale=0.2))
        rm, rv = rnd(3, scale=0.3), (0.5 + torch.rand(3)).float().double()
        rm_after, rv_after = rm.clone(), rv.clone()
        y = F.batch_norm(x, rm_after, rv_after, w, b, training=training, momentum=mom, eps=eps)
        gy = rnd(*y.shape)
        gx, gw, gb = grads(y, gy, [x, w, b])
        t = dict(x=x, weight=w, bias=b, running_mean=rm, running_var=rv, y=y, gy=gy, gx=gx,
                 gweight=gw, gbias=gb)
        if training:
            t.update(running_mean_after=rm_after, running_var_after=rv_after)
        save(f"op_batchnorm2d_{'train' if training else 'eval'}", t,
             dict(op="batchnorm2d", training=training, eps=eps, momentum=mom, seed=seed))


def op_pointwise():
    torch.manual_seed(105)
    # quarter steps put exact zeros in x: ReLU'(0) = 0
    x = leaf(torch.round(rnd(2, 3, 7, 5) * 4) / 4)
    for name, fn in (("relu", F.relu), ("sigmoid", torch.sigmoid), ("tanh", torch.tanh)):
        y = fn(x)
        gy = rnd(*y.shape)
        (gx,) = grads(y, gy, [x])
        save(f"op_{name}", dict(x=x, y=y, gy=gy, gx=gx), dict(op=name, seed=105))


def maxpool_grad_first_max(x, gy):
    """Manual rule: gradient to the first maximum of each 2x2 window in row-major order."""
    gx = torch.zeros_like(x)
    n, c, h, w = x.shape
    for i in range(n):
        for j in range(c):
            for oy in range(h // 2):
                for ox in range(w // 2):
                    win = [(2 * oy + a, 2 * ox + b) for a in range(2) for b in range(2)]
                    best = win[0]
                    for p in win[1:]:
                        if x[i, j, p[0], p[1]] > x[i, j, best[0], best[1]]:
                            best = p
                    gx[i, j, best[0], best[1]] += gy[i, j, oy, ox]
    return gx


def op_maxpool():
    torch.manual_seed(106)
    x = leaf(torch.randint(0, 3, (2, 3, 7, 5)).double())  # values 0..2: many ties
    y = ref.pool(x)
    gy = rnd(*y.shape)
    (gx,) = grads(y, gy, [x])
    manual = maxpool_grad_first_max(x.detach(), gy)
    assert torch.equal(gx, manual), "torch max_pool2d does not follow first-max-in-row-major ties"
    save("op_maxpool2x2", dict(x=x, y=y, gy=gy, gx=gx),
         dict(op="maxpool2d", kernel=2, stride=2, ties="first maximum in row-major order", seed=106))


def op_resize():
    for name, shape, size, seed in (("down", (2, 3, 7, 5), (3, 2), 107), ("up", (2, 3, 3, 2), (7, 5), 108)):
        torch.manual_seed(seed)
        x = leaf(rnd(*shape))
        y = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=False)
        gy = rnd(*y.shape)
        (gx,) = grads(y, gy, [x])
        save(f"op_resize_{name}", dict(x=x, y=y, gy=gy, gx=gx),
             dict(op="resize_bilinear", align_corners=False, out_h=size[0], out_w=size[1], seed=seed))


def op_concat_sobel_diff():
    torch.manual_seed(109)
    a, b = leaf(rnd(2, 3, 7, 5)), leaf(rnd(2, 2, 7, 5))
    y = torch.cat([a, b], dim=1)
    gy = rnd(*y.shape)
    ga, gb = grads(y, gy, [a, b])
    save("op_concat", dict(a=a, b=b, y=y, gy=gy, ga=ga, gb=gb), dict(op="concat", dim=1, seed=109))

    for name, fn, seed in (("sobel_x", ref.sobel_x, 110), ("sobel_y", ref.sobel_y, 111)):
        torch.manual_seed(seed)
        x = leaf(rnd(2, 3, 7, 5))
        y = fn(x)
        gy = rnd(*y.shape)
        (gx,) = grads(y, gy, [x])
        save(f"op_{name}", dict(x=x, y=y, gy=gy, gx=gx), dict(op=name, padding=1, seed=seed))

    torch.manual_seed(112)
    a, b = leaf(rnd(2, 3, 7, 5)), leaf(rnd(2, 3, 7, 5))
    y = b - a
    gy = rnd(*y.shape)
    ga, gb = grads(y, gy, [a, b])
    save("op_temporal_diff", dict(a=a, b=b, y=y, gy=gy, ga=ga, gb=gb),
         dict(op="temporal_diff", formula="y = b - a (a = r_t, b = r_t1)", seed=112))


def op_depth_loss():
    for masked, seed in ((False, 113), (True, 114)):
        torch.manual_seed(seed)
        pred = leaf(torch.rand(2, 1, 7, 5).double())
        target = torch.rand(2, 1, 7, 5).float().double()
        mask = (torch.rand(2, 1, 7, 5) < 0.6).double() if masked else None
        l_abs = ref.loss_abs(pred, target, mask)
        l_con = ref.loss_con(pred, target, mask)
        (g_abs,) = torch.autograd.grad(l_abs, [pred], retain_graph=True)
        (g_con,) = torch.autograd.grad(l_con, [pred], retain_graph=True)
        (g,) = torch.autograd.grad(l_abs + l_con, [pred])
        t = dict(pred=pred, target=target, contrast_pred=ref.contrast(pred), l_abs=l_abs,
                 l_con=l_con, loss=l_abs + l_con, gpred_abs=g_abs, gpred_con=g_con, gpred=g)
        if masked:
            t["mask"] = mask
        save(f"op_depth_loss{'_masked' if masked else ''}", t,
             dict(op="depth_loss", masked=masked, seed=seed))


def op_linear_ce():
    torch.manual_seed(115)
    x, w, b = leaf(rnd(3, 7)), leaf(rnd(5, 7, scale=0.4)), leaf(rnd(5, scale=0.1))
    y = F.linear(x, w, b)
    gy = rnd(*y.shape)
    gx, gw, gb = grads(y, gy, [x, w, b])
    save("op_linear", dict(x=x, weight=w, bias=b, y=y, gy=gy, gx=gx, gweight=gw, gbias=gb),
         dict(op="linear", seed=115))

    torch.manual_seed(116)
    logits = leaf(rnd(5, 2, scale=2.0))
    labels = torch.tensor([1, 0, 0, 1, 1])
    loss = F.cross_entropy(logits, labels)
    (g,) = torch.autograd.grad(loss, [logits])
    save("op_cross_entropy",
         dict(logits=logits, labels=labels.double(), probs=torch.softmax(logits, 1), loss=loss, glogits=g),
         dict(op="softmax_cross_entropy", reduction="mean", seed=116))


def op_convgru():
    torch.manual_seed(117)
    t_steps, b, c_in, hid, h, w = 3, 2, 3, 2, 5, 4
    cell = ref.ConvGRUCell(c_in, hid).double()
    with torch.no_grad():  # random biases so that every term is exercised
        for conv in (cell.reset, cell.update, cell.cand):
            conv.weight.copy_(rnd(*conv.weight.shape, scale=0.3))
            conv.bias.copy_(rnd(*conv.bias.shape, scale=0.5))
    xs = leaf(rnd(t_steps, b, c_in, h, w))
    h0 = torch.zeros(b, hid, h, w, dtype=D)
    hs, rs, us, hcs = [], [], [], []
    hp = h0
    for i in range(t_steps):  # unrolled to keep the gates
        hx = torch.cat([hp, xs[i]], 1)
        r, u = torch.sigmoid(cell.reset(hx)), torch.sigmoid(cell.update(hx))
        hc = torch.tanh(cell.cand(torch.cat([r * hp, xs[i]], 1)))
        hp = (1 - u) * hp + u * hc
        hs.append(hp), rs.append(r), us.append(u), hcs.append(hc)
    hs_t = torch.stack(hs)
    check = torch.stack(cell.steps(h0, list(xs)))
    assert torch.allclose(check, hs_t)
    gy = rnd(*hs_t.shape)
    params = [cell.reset.weight, cell.reset.bias, cell.update.weight, cell.update.bias,
              cell.cand.weight, cell.cand.bias]
    g = grads(hs_t, gy, [xs] + params)
    names = ["reset.weight", "reset.bias", "update.weight", "update.bias", "cand.weight", "cand.bias"]
    t = dict(x=xs, h=hs_t, r=torch.stack(rs), u=torch.stack(us), hc=torch.stack(hcs), gy=gy, gx=g[0])
    for n, p, gp in zip(names, params, g[1:]):
        t[n] = p
        t["g" + n] = gp
    save("op_convgru", t, dict(op="convgru", steps=t_steps, h0="zeros", kernel=3, padding=1,
                               loss="sum_t sum(gy[t] * h[t])", seed=117))


def op_adadelta(weight_decay=0.0, name="op_adadelta"):
    torch.manual_seed(118)
    lr, rho, eps = 0.5, 0.95, 1e-8
    pa, pb = rnd(3, 4), rnd(5)
    ga, gb = rnd(3, 3, 4), rnd(3, 5, scale=0.01)
    a, b = pa.clone().requires_grad_(True), pb.clone().requires_grad_(True)
    opt = torch.optim.Adadelta([a, b], lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)
    t = dict(param_a=pa, param_b=pb, grad_a=ga, grad_b=gb)
    hist = {k: [] for k in ("param_a_after", "square_avg_a", "acc_delta_a",
                            "param_b_after", "square_avg_b", "acc_delta_b")}
    for s in range(3):
        a.grad, b.grad = ga[s].clone(), gb[s].clone()
        opt.step()
        for p, suf in ((a, "a"), (b, "b")):
            st = opt.state[p]
            hist[f"param_{suf}_after"].append(p.detach().clone())
            hist[f"square_avg_{suf}"].append(st["square_avg"].clone())
            hist[f"acc_delta_{suf}"].append(st["acc_delta"].clone())
    # the MODEL.md formula, step by step, must give the same numbers
    p, v, u = pa.clone(), torch.zeros_like(pa), torch.zeros_like(pa)
    for s in range(3):
        g = ga[s] + weight_decay * p
        v = rho * v + (1 - rho) * g ** 2
        delta = torch.sqrt(u + eps) / torch.sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta ** 2
        p = p - lr * delta
    assert torch.allclose(p, hist["param_a_after"][-1], rtol=1e-12, atol=1e-15)
    t.update({k: torch.stack(v) for k, v in hist.items()})
    meta = dict(op="adadelta", lr=lr, rho=rho, eps=eps, steps=3, seed=118)
    if weight_decay:
        meta["weight_decay"] = weight_decay
    save(name, t, meta)


def op_score():
    torch.manual_seed(119)
    cfg = ref.Config.from_dict(GOLDEN_CONFIG)
    d = torch.rand(2, 2, 1, 3, 3).double()
    mask = (torch.rand(2, 3, 3, 3) < 0.6).double()
    mask[1, 1] = 0  # empty mask: that term is 0
    mask[0, 0] = 1
    logits = rnd(2, 2)
    m = ref.FasTd(cfg)
    o = {"d_fusion": d, "logits": logits}
    cfg.variant = "4*"
    depth_only = m.score(o, mask)
    cfg.variant = "4"
    score = m.score(o, mask)
    save("op_score", dict(d_fusion=d, mask=mask, logits=logits, score=score, score_depth_only=depth_only),
         dict(op="score_eq18", beta=cfg.beta, seed=119))


def write_ops():
    op_conv()
    op_batchnorm()
    op_pointwise()
    op_maxpool()
    op_resize()
    op_concat_sobel_diff()
    op_depth_loss()
    op_linear_ce()
    op_convgru()
    op_adadelta()
    op_adadelta(weight_decay=0.3, name="op_adadelta_wd")
    op_score()


# ---------------------------------------------------------------- model-level fixtures


def golden_model(variant, seed):
    """f32 init with PyTorch defaults, then: BN affine params randomised, single-frame BN running
    stats set to the batch statistics of one calibration batch (so eval mode is realistic),
    trainable-part running stats randomised. Returns the model in float64."""
    cfg = ref.Config.from_dict({**GOLDEN_CONFIG, "variant": variant})
    torch.manual_seed(seed)
    m = ref.FasTd(cfg)
    with torch.no_grad():
        for name, mod in m.named_modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.weight.copy_(0.7 + 0.6 * torch.rand(mod.weight.shape))
                mod.bias.copy_(-0.1 + 0.3 * torch.rand(mod.bias.shape))
                if not name.startswith("single."):
                    mod.running_mean.copy_(0.1 * torch.randn(mod.running_mean.shape))
                    mod.running_var.copy_(0.5 + torch.rand(mod.running_var.shape))
        m.single.head.out.bias.fill_(0.3)  # keep D_single mostly above the final ReLU's kink
        calib = torch.randint(0, 256, (6, 3, cfg.image_size, cfg.image_size)).float()
        for mod in m.single.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.momentum = 1.0
        m.single.train()
        m.single((calib - 127.5) / 128)
        for mod in m.single.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.momentum = cfg.bn_momentum
    return m.double()


def frames_from_pixels(*shape, gen=None):
    pix = torch.randint(0, 256, shape, generator=gen).double()
    return (pix - 127.5) / 128  # exact in f32


def params_dict(model, prefix, only=None):
    out = {}
    for k, v in ref.checkpoint_tensors(model).items():
        if only is None or only(k):
            out[f"{prefix}{k}"] = v
    return out


def run_steps(model, params, named, stage, loss_fn, t):
    """3 Adadelta steps on the same batch; records grad.* (first step), step1.*, step3.*."""
    opt = ref.adadelta(params, model.cfg, stage)
    pname = {id(p): n for n, p in named}
    trainable_prefixes = tuple(sorted({n.rsplit(".", 1)[0] for n, _ in named}))
    for s in range(1, 4):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        if s == 1:
            for n, p in named:
                t[f"grad.{n}"] = p.grad.clone()
        opt.step()
        if s in (1, 3):
            # trainable params and the running stats of trainable BatchNorms
            sd = ref.checkpoint_tensors(model)
            for k, v in sd.items():
                owner = k.rsplit(".", 1)[0]
                if owner in trainable_prefixes:
                    t[f"step{s}.{k}"] = v
            for p in params:
                st = opt.state[p]
                t[f"step{s}.square_avg.{pname[id(p)]}"] = st["square_avg"].clone()
                t[f"step{s}.acc_delta.{pname[id(p)]}"] = st["acc_delta"].clone()


def stage1_batch(cfg):
    g = torch.Generator().manual_seed(201)
    s = cfg.map_size
    frames = frames_from_pixels(4, 3, cfg.image_size, cfg.image_size, gen=g)
    mask = (torch.rand(4, 1, s, s, generator=g) < 0.7).double()
    depth = torch.rand(4, 1, s, s, generator=g).float().double() * mask
    depth[3] = 0  # a spoof frame
    return frames, depth, mask


def stage2_batch(cfg):
    g = torch.Generator().manual_seed(202)
    s, nf = cfg.map_size, cfg.frames
    clips = frames_from_pixels(2, nf, 3, cfg.image_size, cfg.image_size, gen=g)
    mask = (torch.rand(2, nf, s, s, generator=g) < 0.7).double()
    mask[1, 1] = 0  # empty mask: that score term is 0
    depth = torch.rand(2, nf, s, s, generator=g).float().double() * mask
    depth[1] = 0  # clip 1 is spoof
    labels = torch.tensor([1.0, 0.0], dtype=D)
    return clips, depth, mask, labels


def model_stage1():
    m = golden_model("4", 301)
    cfg = m.cfg
    frames, depth, mask = stage1_batch(cfg)
    t = dict(**{"input.frames": frames, "input.depth": depth, "input.mask": mask})
    t.update(params_dict(m, "param.", only=lambda k: k.startswith("single.")))
    init_single = {k: v.clone() for k, v in ref.checkpoint_tensors(m).items() if k.startswith("single.")}

    m.set_stage(0)
    with torch.no_grad():
        t["eval.d_single"] = m.single(frames)["d"]
    m.set_stage(1)
    o = m.stage1(frames, depth)
    for k in ("f1", "f2", "f3", "x1", "x2", "x3", "cat"):
        t[f"out.{k}"] = o[k]
    t["out.d_single"] = o["d"]
    for k in ("l_abs", "l_con", "l_single"):
        t[f"loss.{k}"] = o[k]
    named = [(n, p) for n, p in m.named_parameters() if n.startswith("single.")]
    m2 = golden_model("4", 301)  # fresh copy: the forward above already moved running stats
    m2.set_stage(1)
    named2 = [(n, p) for n, p in m2.named_parameters() if n.startswith("single.")]
    run_steps(m2, [p for _, p in named2], named2, 1, lambda: m2.stage1(frames, depth)["l_single"], t)
    assert len(named) == len(named2)
    print(f"stage1: d_single zero fraction {(o['d'] == 0).double().mean().item():.2f}, "
          f"l_single {o['l_single'].item():.6f}")
    save("model_stage1", t, {"config": json.dumps(cfg.to_dict()), "stage": "1", "variant": "4",
                             "seed": "301/201"})
    return init_single


def model_stage2(variant, seed, init_single, name, steps):
    m = golden_model(variant, seed)
    ref.load_params(m, {**ref.checkpoint_tensors(m), **init_single}, "init_single")
    cfg = m.cfg
    clips, depth, mask, labels = stage2_batch(cfg)
    t = {"input.clips": clips, "input.depth": depth, "input.mask": mask, "input.labels": labels}
    t.update(params_dict(m, "param."))
    init_all = ref.checkpoint_tensors(m)

    m.set_stage(0)
    with torch.no_grad():
        e = m.stage2(clips, depth, mask, labels)
    for k in ("d_single", "d_fusion", "logits", "score"):
        if k in e:
            t[f"eval.{k}"] = e[k]

    m.set_stage(2)
    o = m.stage2(clips, depth, mask, labels)
    for k in ("d_single", "o1", "o2", "o3", "r3", "gru1", "gru2", "d_multi", "d_fusion", "logits", "score"):
        if k in o:
            t[f"out.{k}"] = o[k]
    for k in ("l_depth", "l_binary", "l_multi"):
        if k in o:
            t[f"loss.{k}"] = o[k]
    # running stats after this one training forward (trainable BNs; frozen ones do not move)
    for k, v in ref.checkpoint_tensors(m).items():
        if "running_" in k and not k.startswith("single."):
            t[f"out.bn.{k}"] = v
    named = [(n, p) for n, p in m.named_parameters() if not n.startswith("single.")]
    if steps:
        m2 = golden_model(variant, seed)
        ref.load_params(m2, init_all, "init_all")
        m2.set_stage(2)
        named2 = [(n, p) for n, p in m2.named_parameters() if not n.startswith("single.")]
        run_steps(m2, [p for _, p in named2], named2, 2,
                  lambda: m2.stage2(clips, depth, mask, labels)["l_multi"], t)
    else:
        o["l_multi"].backward()
        for n, p in named:
            t[f"grad.{n}"] = p.grad.clone()
    print(f"{name}: l_multi {o['l_multi'].item():.6f}, score {o['score'].tolist()}")
    save(name, t, {"config": json.dumps(cfg.to_dict()), "stage": "2", "variant": variant,
                   "seed": f"{seed}/202"})


def write_models():
    init_single = model_stage1()
    model_stage2("4", 302, init_single, "model_stage2", steps=True)
    model_stage2("3", 303, init_single, "model_variant3", steps=False)
    model_stage2("2", 304, init_single, "model_variant2", steps=False)


def list_fixtures():
    for f in sorted(os.listdir(OUT)):
        if not f.endswith(".safetensors"):
            continue
        with safe_open(os.path.join(OUT, f), framework="pt") as h:
            print(f"\n### {f}\nmetadata: {h.metadata()}")
            for k in h.keys():
                print(f"  {k} {list(h.get_slice(k).get_shape())}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", action="store_true")
    ap.add_argument("--models", action="store_true")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(1)  # same reduction order on every run
    if a.list:
        list_fixtures()
        return
    os.makedirs(OUT, exist_ok=True)
    if a.ops or not a.models:
        write_ops()
    if a.models or not a.ops:
        write_models()


if __name__ == "__main__":
    main()
