"""Self-test of torch_reference.py: autograd gradients against finite differences
(torch.autograd.gradcheck, float64, tiny config, every variant) and checkpoint save/load.

    python3 tools/check_reference.py
"""

import json
import os
import sys
import tempfile

import torch
from torch.func import functional_call

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as ref  # noqa: E402

TINY = {
    "name": "tiny", "variant": "4", "image_size": 16, "frames": 3, "interval": 1,
    "stem": 2, "block": [2, 3, 2], "head": [2, 2], "off_reduce": 2, "off_out": 2,
    "gru_hidden": 2, "fc_hidden": 3,
}


def tiny_model(variant, seed=0):
    torch.manual_seed(seed)
    m = ref.FasTd(ref.Config.from_dict({**TINY, "variant": variant})).double()
    with torch.no_grad():
        m.single.head.out.bias.fill_(0.3)  # away from the final ReLU's kink
    return m


def check_grads(model, stage, loss_fn):
    """gradcheck of loss_fn w.r.t. every trainable parameter of the stage."""
    model.set_stage(stage)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    params = tuple(dict(model.named_parameters())[n].detach().clone().requires_grad_(True) for n in names)

    def f(*ps):
        return loss_fn(lambda *args, **kw: functional_call(model, dict(zip(names, ps)), args, kw))

    ok = torch.autograd.gradcheck(f, params, eps=1e-6, atol=1e-6, rtol=1e-4)
    print(f"variant {model.cfg.variant:2s} stage {stage}: gradcheck over {len(names)} tensors "
          f"({sum(p.numel() for p in params)} values): {'ok' if ok else 'FAILED'}")
    return ok


def patch_forward(model):
    """functional_call calls forward(); route it to the stage method."""

    def forward(*args, method):
        return getattr(model, method)(*args)

    model.forward = forward


def main():
    torch.manual_seed(1)
    s = TINY["image_size"] // 8
    frames = torch.randn(4, 3, 16, 16, dtype=torch.float64)
    depth1 = torch.rand(4, 1, s, s, dtype=torch.float64)
    clips = torch.randn(2, 3, 3, 16, 16, dtype=torch.float64)
    depth2 = torch.rand(2, 3, s, s, dtype=torch.float64)
    mask2 = torch.ones(2, 3, s, s, dtype=torch.float64)
    labels = torch.tensor([1.0, 0.0], dtype=torch.float64)
    ok = True
    for v in ("1", "1*"):
        m = tiny_model(v)
        patch_forward(m)
        ok &= check_grads(m, 1, lambda call: call(frames, depth1, method="stage1")["l_single"])
    for v in ("2", "2*", "3", "3*", "4", "4*"):
        m = tiny_model(v)
        patch_forward(m)
        ok &= check_grads(m, 2, lambda call: call(clips, depth2, mask2, labels, method="stage2")["l_multi"])
    ok &= check_checkpoint()
    print("ALL OK" if ok else "SOME CHECKS FAILED")
    sys.exit(0 if ok else 1)


def check_checkpoint():
    torch.manual_seed(2)
    m = ref.FasTd(ref.Config.from_dict({**TINY, "variant": "4"}))
    with torch.no_grad():
        for b in m.modules():
            if isinstance(b, torch.nn.BatchNorm2d):
                b.running_mean.normal_()
                b.running_var.uniform_(0.5, 1.5)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "ck.safetensors")
        ref.save_checkpoint(m, path)
        m2 = ref.load_checkpoint(path, dtype=torch.float32)
        ref.save_checkpoint(m2, os.path.join(d, "ck2.safetensors"))
        same_bytes = open(path, "rb").read() == open(os.path.join(d, "ck2.safetensors"), "rb").read()
    a, b = ref.checkpoint_tensors(m), ref.checkpoint_tensors(m2)
    same = a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    same &= json.dumps(m.cfg.to_dict()) == json.dumps(m2.cfg.to_dict())
    m.set_stage(0)
    m2.set_stage(0)
    clips = torch.randn(2, 3, 3, 16, 16)
    with torch.no_grad():
        same &= torch.equal(m.multi_forward(clips)["logits"], m2.multi_forward(clips)["logits"])
    print(f"checkpoint reload: {'identical' if same else 'DIFFERENT'} "
          f"(re-saved bytes {'identical' if same_bytes else 'differ'})")
    return same


if __name__ == "__main__":
    main()
