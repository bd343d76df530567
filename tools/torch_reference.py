"""Independent PyTorch implementation of the FAS-TD model, written from the model specification alone (docs/MODEL.md).

It is the cross-check for the Rust engine: make_goldens.py runs it in float64 and stores the
results as float32 safetensors fixtures. Layouts are PyTorch's (NCHW, conv [out, in, kh, kw]).

Usage from Python:
    cfg = Config.from_dict(json.load(...))
    model = FasTd(cfg)                       # builds the modules of cfg.variant
    out = model.stage1(frames, depth)         # single-frame stage, dict of tensors and losses
    out = model.stage2(clips, depth, mask, labels)   # multi-frame stage
    save_checkpoint(model, path); model = load_checkpoint(path)
"""

import json
import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANTS = ("1", "1*", "2", "2*", "3", "3*", "4", "4*")


@dataclass
class Config:
    name: str = "paper"
    variant: str = "4"
    image_size: int = 256
    frames: int = 5
    interval: int = 3
    stem: int = 64
    block: list = field(default_factory=lambda: [128, 192, 128])
    head: list = field(default_factory=lambda: [128, 64])
    off_reduce: int = 32
    off_out: int = 64
    gru_hidden: int = 32
    fc_hidden: int = 64
    alpha: float = 0.8
    beta: float = 0.9
    bn_eps: float = 1e-5
    bn_momentum: float = 0.1
    adadelta_rho: float = 0.95
    adadelta_eps: float = 1e-8
    # how tdfas cuts and prepares the face crop (docs/MODEL.md, "Face crop and labels", Input):
    # data loading only, not the network, so carried here and not used
    crop: float = 1.8
    close_cut: float = 0.0
    zoom: float = 0.0
    local_contrast: bool = False
    stage1: dict = field(default_factory=lambda: {"lr": 3e-3, "batch": 10})
    stage2: dict = field(default_factory=lambda: {"lr": 1e-2, "batch": 2})

    @staticmethod
    def from_dict(d):
        known = Config.__dataclass_fields__.keys()
        unknown = set(d) - set(known)
        if unknown:
            raise ValueError(f"config: unknown keys {sorted(unknown)}")
        cfg = Config(**d)
        if cfg.variant not in VARIANTS:
            raise ValueError(f"config: variant {cfg.variant!r} not one of {VARIANTS}")
        if cfg.image_size % 8 != 0:
            raise ValueError(f"config: image_size {cfg.image_size} is not a multiple of 8")
        return cfg

    def to_dict(self):
        return {k: getattr(self, k) for k in Config.__dataclass_fields__}

    @property
    def map_size(self):
        return self.image_size // 8

    @property
    def has_binary(self):
        return self.variant in ("2", "3", "4")


# ---------------------------------------------------------------- building blocks


class CBR(nn.Module):
    """conv k x k (stride 1, zero pad k//2, no bias) -> BatchNorm -> ReLU.
    Parameter names: `weight` (the conv) and `bn.{weight,bias,running_mean,running_var}`."""

    def __init__(self, c_in, c_out, k, cfg):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(c_out, c_in, k, k))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # nn.Conv2d's default
        self.bn = nn.BatchNorm2d(c_out, eps=cfg.bn_eps, momentum=cfg.bn_momentum)
        self.k = k

    def forward(self, x):
        return F.relu(self.bn(F.conv2d(x, self.weight, None, padding=self.k // 2)))


def conv_bias(c_in, c_out, k):
    return nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=True)


def pool(x):
    # max 2x2 stride 2, floor; PyTorch's CPU kernel sends the gradient to the first maximum
    # in row-major window order (make_goldens.py checks this on ties).
    return F.max_pool2d(x, 2, 2)


def resize(x, s):
    return F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=False)


def _sobel_kernels(dtype):
    sx = torch.tensor([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=dtype)
    sy = torch.tensor([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=dtype)
    return sx, sy


def sobel_x(x):
    c = x.shape[1]
    k = _sobel_kernels(x.dtype)[0].to(x.device).expand(c, 1, 3, 3)
    return F.conv2d(x, k, padding=1, groups=c)


def sobel_y(x):
    c = x.shape[1]
    k = _sobel_kernels(x.dtype)[1].to(x.device).expand(c, 1, 3, 3)
    return F.conv2d(x, k, padding=1, groups=c)


# neighbour order of the contrastive kernels K_1..K_8 (row, col) in the 3x3 window
NEIGHBOURS = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1), (2, 2)]


def contrast_kernels(dtype, device=None):
    k = torch.zeros(8, 1, 3, 3, dtype=dtype, device=device)
    for i, (r, c) in enumerate(NEIGHBOURS):
        k[i, 0, 1, 1] = -1.0
        k[i, 0, r, c] = 1.0
    return k


def contrast(d):
    """[N,1,h,w] -> [N,8,h,w]: K_i * d for i = 1..8 (cross-correlation, zero pad 1)."""
    return F.conv2d(d, contrast_kernels(d.dtype, d.device), padding=1)


def loss_abs(pred, target, mask=None):
    """mean((pred - target)^2) over batch and pixels. With a mask [same shape, 0/1]:
    sum(mask * (pred - target)^2) / sum(mask), 0 when the mask is empty."""
    sq = (pred - target) ** 2
    if mask is None:
        return sq.mean()
    return _masked_mean(sq, mask)


def loss_con(pred, target, mask=None):
    """sum_i mean((K_i*pred - K_i*target)^2). With a mask: each mean becomes
    sum over pixels p with mask(p)=1 of (...)^2 / sum(mask) (mask at the output pixel p)."""
    diff = contrast(pred) - contrast(target)  # [N,8,h,w]
    total = 0.0
    for i in range(8):
        sq = diff[:, i : i + 1] ** 2
        total = total + (sq.mean() if mask is None else _masked_mean(sq, mask))
    return total


def _masked_mean(v, mask):
    m = mask.sum()
    if m.item() == 0:
        return (v * 0).sum()
    return (v * mask).sum() / m


def masked_map_mean(d, mask):
    """sum(d*M)/sum(M) per map; d, mask [..., h, w] -> [...]; an empty mask gives 0."""
    num = (d * mask).sum(dim=(-2, -1))
    den = mask.sum(dim=(-2, -1))
    safe = torch.where(den > 0, den, torch.ones_like(den))
    return torch.where(den > 0, num / safe, torch.zeros_like(num))


class ConvGRUCell(nn.Module):
    """R = sigmoid(conv_r([H, X])); U = sigmoid(conv_u([H, X])); Hc = tanh(conv_c([R*H, X]));
    H' = (1-U)*H + U*Hc. 3x3 convs, zero pad 1, bias; gate biases 1, candidate bias 0."""

    def __init__(self, c_in, hidden):
        super().__init__()
        self.hidden = hidden
        self.reset = conv_bias(hidden + c_in, hidden, 3)
        self.update = conv_bias(hidden + c_in, hidden, 3)
        self.cand = conv_bias(hidden + c_in, hidden, 3)
        with torch.no_grad():
            self.reset.bias.fill_(1.0)
            self.update.bias.fill_(1.0)
            self.cand.bias.fill_(0.0)

    def forward(self, h, x):
        hx = torch.cat([h, x], dim=1)
        r = torch.sigmoid(self.reset(hx))
        u = torch.sigmoid(self.update(hx))
        hc = torch.tanh(self.cand(torch.cat([r * h, x], dim=1)))
        return (1 - u) * h + u * hc

    def steps(self, h0, xs):
        """xs: list of [B,C,h,w] per step -> list of hidden states per step."""
        hs, h = [], h0
        for x in xs:
            h = self(h, x)
            hs.append(h)
        return hs


# ---------------------------------------------------------------- model parts


class Block(nn.Module):
    def __init__(self, c_in, widths, cfg):
        super().__init__()
        self.conv1 = CBR(c_in, widths[0], 3, cfg)
        self.conv2 = CBR(widths[0], widths[1], 3, cfg)
        self.conv3 = CBR(widths[1], widths[2], 3, cfg)

    def forward(self, x):
        return self.conv3(self.conv2(self.conv1(x)))


class Head(nn.Module):
    def __init__(self, c_in, widths, cfg):
        super().__init__()
        self.conv1 = CBR(c_in, widths[0], 3, cfg)
        self.conv2 = CBR(widths[0], widths[1], 3, cfg)
        self.out = conv_bias(widths[1], 1, 3)

    def forward(self, x):
        return F.relu(self.out(self.conv2(self.conv1(x))))


class SingleFrame(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.s = cfg.map_size
        self.conv0 = CBR(3, cfg.stem, 3, cfg)
        self.block1 = Block(cfg.stem, cfg.block, cfg)
        self.block2 = Block(cfg.block[2], cfg.block, cfg)
        self.block3 = Block(cfg.block[2], cfg.block, cfg)
        self.head = Head(3 * cfg.block[2], cfg.head, cfg)

    def forward(self, frames):
        """frames [N,3,H,W] -> dict f1..f3 (pre-pool), x1..x3, cat, d [N,1,S,S]."""
        o = {}
        x = self.conv0(frames)
        for b, blk in enumerate([self.block1, self.block2, self.block3], start=1):
            f = blk(x)
            x = pool(f)
            o[f"f{b}"], o[f"x{b}"] = f, x
        o["cat"] = torch.cat([resize(o["x1"], self.s), resize(o["x2"], self.s), o["x3"]], dim=1)
        o["d"] = self.head(o["cat"])
        return o


class Off(nn.Module):
    """OFF block at one level; `fuse` is absent for variant 3 (reduce only)."""

    def __init__(self, level, cfg, with_fuse=True):
        super().__init__()
        self.reduce = CBR(cfg.block[2], cfg.off_reduce, 1, cfg)
        if with_fuse:
            c = 6 * cfg.off_reduce + (cfg.off_out if level > 1 else 0)
            self.fuse = CBR(c, cfg.off_out, 3, cfg)

    def forward(self, f, o_prev):
        """f: [B,Nf,C,h,w] pre-pool features; o_prev: [B*(Nf-1),off_out,h,w] or None.
        reduce runs once on all B*Nf frames, fuse once on all B*(Nf-1) pairs (b-major, t-minor)."""
        b, nf = f.shape[:2]
        r = self.reduce(f.flatten(0, 1))
        r = r.view(b, nf, *r.shape[1:])
        rt = r[:, :-1].flatten(0, 1)
        rt1 = r[:, 1:].flatten(0, 1)
        parts = [rt, sobel_x(rt), sobel_y(rt), sobel_x(rt1), sobel_y(rt1), rt1 - rt]
        if o_prev is not None:
            parts.append(o_prev)
        return pool(self.fuse(torch.cat(parts, dim=1)))


class FcHead(nn.Module):
    def __init__(self, n_in, cfg):
        super().__init__()
        self.fc1 = nn.Linear(n_in, cfg.fc_hidden)
        self.fc2 = nn.Linear(cfg.fc_hidden, 2)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class Multi(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.out = conv_bias(cfg.off_out, 1, 3)


class FasTd(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        v = cfg.variant.rstrip("*")
        self.single = SingleFrame(cfg)
        if v in ("2", "4"):
            self.off1 = Off(1, cfg)
            self.off2 = Off(2, cfg)
            self.off3 = Off(3, cfg)
        if v == "3":
            self.off3 = Off(3, cfg, with_fuse=False)
        if v in ("3", "4"):
            c_in = cfg.off_out if v == "4" else cfg.off_reduce
            self.gru1 = ConvGRUCell(c_in, cfg.gru_hidden)
            self.gru2 = ConvGRUCell(cfg.gru_hidden, 1)
        if v == "2":
            self.multi = Multi(cfg)
        if cfg.has_binary:
            s = cfg.map_size
            self.head = FcHead((cfg.frames - 1) * s * s, cfg)

    # ----- which parameters train in which stage
    def stage1_params(self):
        return [p for p in self.single.parameters()]

    def stage2_params(self):
        return [p for n, p in self.named_parameters() if not n.startswith("single.")]

    def set_stage(self, stage):
        """stage 1: single-frame part trains (BN batch stats). stage 2: single-frame part frozen
        (eval-mode BN, no grads), the rest trains. stage 0: everything eval (inference)."""
        for n, p in self.named_parameters():
            p.requires_grad_(stage == 1 if n.startswith("single.") else stage == 2)
        self.train(stage != 0)
        if stage == 2:
            self.single.eval()
        if stage == 1:
            for n, m in self.named_children():
                if n != "single":
                    m.eval()

    # ----- stage 1
    def stage1(self, frames, depth, mask=None):
        """frames [N,3,H,W] normalised, depth [N,1,S,S] -> dict; mask is only used by score_single."""
        o = self.single(frames)
        d = o["d"]
        o["l_abs"] = loss_abs(d, depth)
        o["l_con"] = loss_con(d, depth)
        o["l_single"] = o["l_abs"] + (o["l_con"] if self.cfg.variant != "1*" else 0.0)
        return o

    # ----- stage 2 (and inference)
    def multi_forward(self, clips):
        """clips [B,Nf,3,H,W] -> dict with d_single [B,Nf,1,S,S], o1..o3, gru1, gru2,
        d_multi, d_fusion [B,Nf-1,1,S,S], logits [B,2] (binary variants)."""
        cfg = self.cfg
        v = cfg.variant.rstrip("*")
        b, nf = clips.shape[:2]
        t = nf - 1
        so = self.single(clips.flatten(0, 1))
        o = {"d_single": so["d"].view(b, nf, *so["d"].shape[1:])}
        if v == "1":
            return o
        feats = {k: so[k].view(b, nf, *so[k].shape[1:]) for k in ("f1", "f2", "f3")}
        if v in ("2", "4"):
            prev = None
            for lvl, off in enumerate([self.off1, self.off2, self.off3], start=1):
                prev = off(feats[f"f{lvl}"], prev)
                o[f"o{lvl}"] = prev.view(b, t, *prev.shape[1:])
            seq_in = o["o3"]
        else:  # variant 3: off3.reduce on frames 0..Nf-2 only, pooled to S
            f3 = feats["f3"][:, :t].flatten(0, 1)
            r = pool(self.off3.reduce(f3))
            seq_in = r.view(b, t, *r.shape[1:])
            o["r3"] = seq_in
        if v == "2":
            dm = self.multi.out(seq_in.flatten(0, 1))
            o["d_multi"] = dm.view(b, t, *dm.shape[1:])
        else:
            s = cfg.map_size
            h1 = seq_in.new_zeros(b, cfg.gru_hidden, s, s)
            h2 = seq_in.new_zeros(b, 1, s, s)
            g1, g2 = [], []
            for i in range(t):
                h1 = self.gru1(h1, seq_in[:, i])
                h2 = self.gru2(h2, h1)
                g1.append(h1)
                g2.append(h2)
            o["gru1"] = torch.stack(g1, dim=1)
            o["gru2"] = torch.stack(g2, dim=1)
            o["d_multi"] = o["gru2"]
        o["d_fusion"] = cfg.alpha * o["d_single"][:, :t] + (1 - cfg.alpha) * o["d_multi"]
        if cfg.has_binary:
            o["logits"] = self.head(o["d_fusion"].reshape(b, -1))  # t-major, row, col
        return o

    def stage2(self, clips, depth, mask, labels):
        """depth, mask [B,Nf,S,S]; labels [B] (0 spoof, 1 live; any dtype). Returns
        multi_forward's dict + l_depth, l_binary, l_multi, score [B]."""
        cfg = self.cfg
        o = self.multi_forward(clips)
        o["score"] = self.score(o, mask)
        if cfg.variant.rstrip("*") == "1":
            return o
        t = clips.shape[1] - 1
        l_depth = 0.0
        for i in range(t):
            df, dl = o["d_fusion"][:, i], depth[:, i : i + 1]
            l_depth = l_depth + loss_abs(df, dl) + loss_con(df, dl)
        o["l_depth"] = l_depth
        if cfg.has_binary:
            o["l_binary"] = F.cross_entropy(o["logits"], labels.long())
            o["l_multi"] = cfg.beta * o["l_binary"] + (1 - cfg.beta) * l_depth
        else:
            o["l_multi"] = l_depth
        return o

    def score(self, o, mask):
        """Eq. 18 per clip -> [B]. mask [B,Nf,S,S]."""
        cfg = self.cfg
        if cfg.variant.rstrip("*") == "1":
            return masked_map_mean(o["d_single"][:, :, 0], mask).mean(dim=1)
        t = o["d_fusion"].shape[1]
        depth_term = masked_map_mean(o["d_fusion"][:, :, 0], mask[:, :t]).mean(dim=1)
        if not cfg.has_binary:
            return depth_term
        p_live = torch.softmax(o["logits"], dim=1)[:, 1]
        return cfg.beta * p_live + (1 - cfg.beta) * depth_term


# ---------------------------------------------------------------- checkpoints


def checkpoint_tensors(model):
    """Name -> f32 contiguous tensor, without num_batches_tracked."""
    return {
        k: v.detach().to(torch.float32).contiguous()
        for k, v in model.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }


def save_checkpoint(model, path):
    from safetensors.torch import save_file

    save_file(checkpoint_tensors(model), path, metadata={"config": json.dumps(model.cfg.to_dict())})


def load_checkpoint(path, dtype=torch.float64):
    from safetensors import safe_open

    with safe_open(path, framework="pt") as f:
        meta = f.metadata() or {}
        if "config" not in meta:
            raise ValueError(f"{path}: no 'config' in safetensors metadata")
        cfg = Config.from_dict(json.loads(meta["config"]))
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    model = FasTd(cfg).to(dtype)
    load_params(model, tensors, path)
    return model


def load_params(model, tensors, where="tensors"):
    """Copy named tensors (checkpoint names) into the model; every name must match exactly."""
    own = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    missing = sorted(set(own) - set(tensors))
    extra = sorted(set(tensors) - set(own))
    if missing or extra:
        raise ValueError(f"{where}: missing {missing}, unexpected {extra}")
    with torch.no_grad():
        for k, v in own.items():
            if tuple(tensors[k].shape) != tuple(v.shape):
                raise ValueError(f"{where}: {k} has shape {tuple(tensors[k].shape)}, want {tuple(v.shape)}")
            v.copy_(tensors[k].to(v.dtype))


def adadelta(params, cfg, stage):
    st = cfg.stage1 if stage == 1 else cfg.stage2
    return torch.optim.Adadelta(params, lr=st["lr"], rho=cfg.adadelta_rho, eps=cfg.adadelta_eps,
                                weight_decay=st.get("weight_decay") or 0.0)
