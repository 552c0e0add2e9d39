"""Load reference checkpoints (torchvision, timm, Hugging Face transformers) into archzoo models.

One generic mechanism instead of a hand table per model: archzoo builds each architecture in the
same module order as the reference implementation, so the two state dicts pair up tensor by tensor
in order (safetensors files, which come back sorted by name, are first put back in module order
from `_reference_maps/key_order.json.gz`). A few per-family rules fix where the orders differ
(`_RULES`: reference keys to drop, to move, auxiliary heads, a differing batch-norm eps as timm's
MobileNetV3 and DPNs have), and every pair is checked: equal shapes (or a conv <-> linear reshape
of the same weight, as squeezenet's 1x1-conv classifier and convnext's (C, 1, 1) layer scale), and
batch-norm buffers only onto the same buffers. Anything else raises one line naming the first mismatches and the archzoo model the
checkpoint fits best. An architecture a source has under the same name but computes differently
(`DEPARTS`: timm's SE-ResNet-50) is refused with a line saying how it differs.

Hugging Face checkpoints need a few more rules, applied to the tensors before pairing: GPT-2's
Conv1D weights are stored (in, out) and are transposed; separate query / key / value projections
are stacked into archzoo's one `qkv` weight; tied weights a file leaves out are filled from the
tensor they are tied to. After loading, T5's W_q is multiplied by sqrt(hs) (T5 leaves the scores
unscaled, archzoo divides them by sqrt(hs)) and ViT's LayerNorm eps is set to transformers' 1e-12.
Keys are renamed to transformers 5's names first ("rename": ViT's layers and projections as older
versions named them, BERT's LayerNorm gamma / beta, GPT2Model files without the `transformer.` prefix).

torchvision's `googlenet` / `inception_v3` checkpoints are used with `transform_input=True`, which
re-normalizes ImageNet-normalized input to mean = std = 0.5; archzoo has no such step, so feed those
weights input normalized with mean = std = 0.5 (the logits then equal torchvision's).
"""
from __future__ import annotations

import difflib
import fnmatch
import functools
import gzip
import json
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
import torch.nn as nn

_BN = ("running_mean", "running_var", "num_batches_tracked")
_HEADISH = ("head.", "aux_heads.")

# archzoo name -> the reference implementation's name, per source.
_TV = {"alexnet_owt": "alexnet", "googlenet_bn": "googlenet", "inception_v3": "inception_v3",
       "resnet18": "resnet18", "resnet34": "resnet34", "resnet50_v1_5": "resnet50",
       "resnet101_v1_5": "resnet101", "resnet152_v1_5": "resnet152",
       "squeezenet1_0": "squeezenet1_0", "squeezenet1_1": "squeezenet1_1",
       "mobilenet_v2": "mobilenet_v2", "mobilenet_v3_small": "mobilenet_v3_small",
       "mobilenet_v3_large": "mobilenet_v3_large"}
_TV.update({n: n for n in [f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")]
            + [f"densenet{d}" for d in (121, 161, 169, 201)]
            + [f"efficientnet_b{i}" for i in range(8)] + [f"efficientnet_v2_{s}" for s in "sml"]
            + [f"shufflenet_v2_x{w}" for w in ("0_5", "1_0", "1_5", "2_0")]
            + [f"convnext_{s}" for s in ("tiny", "small", "base", "large")]
            + ["vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14", "swin_t", "swin_s", "swin_b"]})
_TIMM = {"deit_tiny_patch16_224": "deit_tiny_patch16_224", "deit_small_patch16_224": "deit_small_patch16_224",
         "vit_b_16": "vit_base_patch16_224", "vit_b_32": "vit_base_patch32_224",
         "vit_l_16": "vit_large_patch16_224",
         "resnet18": "resnet18", "resnet34": "resnet34",
         "resnet50_v1_5": "resnet50", "resnet101_v1_5": "resnet101", "resnet152_v1_5": "resnet152",
         "swin_t": "swin_tiny_patch4_window7_224", "swin_s": "swin_small_patch4_window7_224",
         "swin_b": "swin_base_patch4_window7_224", "inception_v3": "inception_v3",
         "mobilenet_v2": "mobilenetv2_100", "mobilenet_v1_100": "mobilenetv1_100",
         "mobilenet_v3_large": "mobilenetv3_large_100", "mobilenet_v3_small": "mobilenetv3_small_100",
         "efficientnet_b0": "efficientnet_b0"}
_TIMM.update({n: n for n in [f"densenet{d}" for d in (121, 161, 169, 201)]
              + [f"convnext_{s}" for s in ("tiny", "small", "base", "large")]})
_TIMM.update({n: n for n in ["resnext50_32x4d", "resnext101_32x8d", "seresnext50_32x4d",
                              "dpn92", "dpn98", "inception_v4", "inception_resnet_v2"]})
_TIMM["xception"] = "legacy_xception"
# Hugging Face transformers: the hub name of the checkpoint whose config archzoo's model matches
_HF = {"gpt2_small": "gpt2", "bert_base": "bert-base-uncased", "t5_small": "t5-small",
       "vit_b_16": "vit-base-patch16-224"}
PROVIDED: dict[str, dict[str, str]] = {"torchvision": _TV, "timm": _TIMM, "huggingface": _HF}
# Architectures the source has under the same name but computes differently: refused with why.
DEPARTS: dict[tuple[str, str], str] = {
    ("timm", "seresnet50"): "timm's seresnet50 strides in the 3x3 conv (ResNet v1.5) and its "
    "legacy_seresnet50 max-pools the stem with ceil_mode and no padding (Caffe); archzoo's seresnet50 "
    "strides in the first 1x1, as the paper's model, after ResNet's padded max-pool",
}
# create_model overrides the full reference checkpoint needs (BertForPreTraining holds both heads)
BUILD_ARGS: dict[tuple[str, str], dict[str, Any]] = {
    ("huggingface", "bert_base"): {"pretraining_heads": True}}

# (source, archzoo-name glob) -> rules on the reference keys. "move": (key regex, template of the key
# to put it before); "aux": reference auxiliary-head keys, moved last (archzoo registers `aux_heads`
# after the head) or dropped when the model was built without them.
_RULES: dict[tuple[str, str], dict[str, Any]] = {
    ("torchvision", "vit_*"): {"move": [(r"encoder\.pos_embedding", "conv_proj.weight")]},
    ("torchvision", "swin_*"): {
        "drop": r".*\.relative_position_index",
        "move": [(r"(.*)\.attn\.relative_position_bias_table", r"\1.norm1.weight"),
                 (r"(features\.\d+)\.norm\.(weight|bias)", r"\1.reduction.weight")]},
    ("timm", "swin_*"): {"move": [(r"(.*)\.attn\.relative_position_bias_table", r"\1.norm1.weight")]},
    ("torchvision", "googlenet*"): {"aux": r"aux[12]\..*"},
    ("torchvision", "inception_v3"): {"aux": r"AuxLogits\..*"},
    ("timm", "inception_v3"): {"aux": r"AuxLogits\..*"},
    # timm's MobileNetV3 normalizes with eps 1e-5 (archzoo, like torchvision and the paper's TF code, 1e-3)
    ("timm", "mobilenet_v3_*"): {"bn_eps": 1e-5},
    # timm puts the squeeze-excitation before the projection shortcut, archzoo after it
    ("timm", "se*"): {"move": [(r"(layer\d\.\d+)\.downsample\..*", r"\1.se.fc1.weight")]},
    # timm's DPNs normalize with eps 1e-3 (MXNet's default, in which the released models were trained)
    ("timm", "dpn*"): {"bn_eps": 1e-3},
    # legacy_xception registers a block's skip before its separable convolutions
    ("timm", "xception"): {"move": [(r"(block(?:1|2|3|12))\.rep\..*", r"\1.skip.weight")]},
    # Hugging Face. "transpose": Conv1D weights (in, out); "fuse": (regex, stacked key, the three
    # names of the second group in q, k, v order); "tied": key -> the key it is tied to;
    # "heads_if": (reference keys, archzoo key prefix): the keys are dropped when the model lacks it
    ("huggingface", "gpt2_*"): {
        "rename": [(r"^(?=h\.|wte\.|wpe\.|ln_f\.)", "transformer.")],  # a GPT2Model file
        "tied": {"lm_head.weight": "transformer.wte.weight"},
        "transpose": r".*\.(c_attn|c_proj|c_fc)\.weight",
        "drop": r".*\.attn\.(masked_)?bias"},  # causal-mask buffers of older files
    ("huggingface", "bert_*"): {
        "rename": [(r"LayerNorm\.gamma$", "LayerNorm.weight"), (r"LayerNorm\.beta$", "LayerNorm.bias")],
        "tied": {"cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
                 "cls.predictions.decoder.bias": "cls.predictions.bias"},
        "fuse": (r"(.*)\.(query|key|value)\.(weight|bias)", r"\1.qkv.\3", ("query", "key", "value")),
        "drop": r"cls\.predictions\.bias|.*\.position_ids",
        "heads_if": (r"cls\..*", "mlm_out."),
        "move": [(r"(.*\.layer\.\d+)\.attention\.output\.LayerNorm\.(weight|bias)",
                  r"\1.attention.self.qkv.weight"),  # post-LN: archzoo registers norm1, norm2 first
                 (r"(.*\.layer\.\d+)\.output\.LayerNorm\.(weight|bias)", r"\1.intermediate.dense.weight"),
                 (r"cls\.predictions\.decoder\..*", "cls.seq_relationship.weight")]},  # when filled in
    ("huggingface", "t5_*"): {
        "tied": {k: "shared.weight" for k in ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight",
                                              "lm_head.weight")},
        "fuse": (r"(.*)\.(q|k|v)\.weight", r"\1.qkv.weight", ("q", "k", "v")),
        "drop": r"decoder\.embed_tokens\.weight",
        "move": [(r"encoder\.embed_tokens\.weight", "encoder.block.0.layer.0.SelfAttention.qkv.weight"),
                 (r"(encoder\.block\.\d+)\.layer\.0\.layer_norm\.weight",
                  r"\1.layer.0.SelfAttention.qkv.weight"),
                 (r"(encoder\.block\.\d+)\.layer\.1\.layer_norm\.weight",
                  r"\1.layer.1.DenseReluDense.wi.weight"),
                 (r"(decoder\.block\.\d+)\.layer\.[01]\.layer_norm\.weight", r"\1.layer.2.layer_norm.weight"),
                 (r"(en|de)coder\.block\.0\.layer\.0\.SelfAttention\.relative_attention_bias\.weight",
                  "encoder.block.0.layer.0.layer_norm.weight"),
                 (r"encoder\.final_layer_norm\.weight", "decoder.final_layer_norm.weight")],
        "unscaled_attention": True},
    ("huggingface", "vit_*"): {
        "rename": [(r"\.encoder\.layer\.", ".layers."),  # the names before transformers 5
                   (r"\.attention\.attention\.query\.", ".attention.q_proj."),
                   (r"\.attention\.attention\.key\.", ".attention.k_proj."),
                   (r"\.attention\.attention\.value\.", ".attention.v_proj."),
                   (r"\.attention\.output\.dense\.", ".attention.o_proj."),
                   (r"\.intermediate\.dense\.", ".mlp.fc1."), (r"\.output\.dense\.", ".mlp.fc2.")],
        "fuse": (r"(.*)\.(q_proj|k_proj|v_proj)\.(weight|bias)", r"\1.qkv.\3",
                 ("q_proj", "k_proj", "v_proj")),
        "move": [(r"(.*)\.layernorm_before\.(weight|bias)", r"\1.attention.qkv.weight"),
                 (r"(.*)\.layernorm_after\.(weight|bias)", r"\1.mlp.fc1.weight")],
        "ln_eps": 1e-12},
}


class ReferenceWeightsError(ValueError):
    """A checkpoint that does not map onto the model, or an architecture the source lacks."""


def _rules(source: str, name: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for (src, pattern), rule in _RULES.items():
        if src == source and fnmatch.fnmatchcase(name, pattern):
            out.update(rule)
    return out


def _fill_tied(sd: Mapping[str, Any], rules: dict[str, Any]) -> dict[str, Any]:
    """Tied weights a file leaves out (safetensors stores a shared tensor once), from their twin,
    at the end ("move" rules place them where the key order of a known config does not)."""
    out = dict(sd)
    for key, twin in rules.get("tied", {}).items():
        if key not in out and twin in out:
            out[key] = out[twin]
    return out


def _convert(sd: Mapping[str, torch.Tensor], rules: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Tensors in archzoo's layout, in the same order: Conv1D weights transposed, q / k / v stacked
    (at the query's place). Works on meta tensors, so `plan` runs it on shapes alone."""
    out: dict[str, torch.Tensor] = {}
    for key, t in sd.items():
        conv1d = rules.get("transpose") and t.ndim == 2 and re.fullmatch(rules["transpose"], key)
        out[key] = t.t() if conv1d else t
    if "fuse" not in rules:
        return out
    pattern, template, roles = rules["fuse"]
    groups: dict[str, dict[str, str]] = {}
    for key in out:
        m = re.fullmatch(pattern, key)
        if m:
            groups.setdefault(m.expand(template), {})[m.group(2)] = key
    fused = {}
    for target, parts in groups.items():
        if set(parts) != set(roles):
            raise ReferenceWeightsError(f"{target}: expected the {'/'.join(roles)} projections to stack, "
                                        f"got only {'/'.join(sorted(parts))}")
        fused[parts[roles[0]]] = (target, [parts[r] for r in roles])
    merged: dict[str, torch.Tensor] = {}
    skip = {k for _, keys in fused.values() for k in keys[1:]}
    for key, t in out.items():
        if key in fused:
            target, keys = fused[key]
            merged[target] = torch.cat([out[k] for k in keys], dim=0)
        elif key not in skip:
            merged[key] = t
    return merged


def _arrange(ref: Sequence[tuple[str, tuple]], rules: dict[str, Any],
             has_aux: bool, our_keys: Sequence[str] = ()) -> list[tuple[str, tuple]]:
    """The reference keys in archzoo's module order."""
    keys = [kv for kv in ref if not (rules.get("drop") and re.fullmatch(rules["drop"], kv[0]))]
    if rules.get("heads_if") and not any(k.startswith(rules["heads_if"][1]) for k in our_keys):
        keys = [kv for kv in keys if not re.fullmatch(rules["heads_if"][0], kv[0])]
    if rules.get("aux"):
        aux = [kv for kv in keys if re.fullmatch(rules["aux"], kv[0])]
        keys = [kv for kv in keys if not re.fullmatch(rules["aux"], kv[0])] + (aux if has_aux else [])
    for pattern, template in rules.get("move", ()):
        for kv in [kv for kv in keys if re.fullmatch(pattern, kv[0])]:
            target = re.sub(pattern, template, kv[0])
            keys.remove(kv)
            at = next((i for i, (k, _) in enumerate(keys) if k == target), None)
            keys.insert(len(keys) if at is None else at, kv)
    return keys


def _fits(ref_shape: tuple, our_shape: tuple) -> bool:
    if ref_shape == our_shape:
        return True  # else a conv <-> linear view of one weight: same rows, same numbers
    return (len(ref_shape) != len(our_shape) and ref_shape[:1] == our_shape[:1]
            and torch.Size(ref_shape).numel() == torch.Size(our_shape).numel())


def plan(model: nn.Module, ref: Sequence[tuple[str, tuple]], *, source: str, name: str | None = None,
         head: bool = True, adapt_in_chans: bool = False) -> tuple[list[tuple[str, str, str]], list[str]]:
    """Pair reference (key, shape)s with the model's state dict: ([(ref_key, our_key, how)], problems).

    `how` is "copy", "reshape", "in_chans" (first conv summed / repeated over input channels) or
    "skip" (with head=False, a classifier layer whose class count differs keeps its own init)."""
    name = name or getattr(model, "model_name", type(model).__name__)
    rules = _rules(source, name)
    renamed = _rename([k for k, _ in ref], rules)
    meta = _convert(_fill_tied({renamed[k]: torch.empty(s, device="meta") for k, s in ref}, rules), rules)
    return _pair(model, [(k, tuple(t.shape)) for k, t in meta.items()], rules, name=name, head=head,
                 adapt_in_chans=adapt_in_chans)


def _pair(model: nn.Module, ref: Sequence[tuple[str, tuple]], rules: dict[str, Any], *, name: str,
          head: bool, adapt_in_chans: bool) -> tuple[list[tuple[str, str, str]], list[str]]:
    """`plan` on reference keys already in archzoo's layout (renamed, tied filled in, converted)."""
    ours = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    has_aux = any(k.startswith("aux_heads.") for k, _ in ours)
    theirs = _arrange(ref, rules, has_aux, [k for k, _ in ours])
    pairs, problems, first_conv = [], [], True
    for (rk, rs), (ok, os_) in zip(theirs, ours):
        how = "copy" if rs == os_ else "reshape"
        bn_ok = (rk.rsplit(".", 1)[-1] in _BN) == (ok.rsplit(".", 1)[-1] in _BN)
        if len(os_) == 4 and first_conv:
            first_conv = False
            if adapt_in_chans and len(rs) == 4 and rs[0] == os_[0] and rs[2:] == os_[2:] and rs[1] != os_[1]:
                how = "in_chans"
        if how != "in_chans" and not _fits(rs, os_):
            if not head and ok.startswith(_HEADISH) and rs and os_ and _fits(os_[:1] + rs[1:], os_):
                how = "skip"
            else:
                bn_ok = False
        if not bn_ok:
            problems.append(f"{rk} {list(rs)} -> {ok} {list(os_)}")
        pairs.append((rk, ok, how))
    if len(theirs) != len(ours):
        extra = [f"{k} {list(s)} -> (nothing)" for k, s in theirs[len(ours):]]
        extra += [f"(nothing) -> {k} {list(s)}" for k, s in ours[len(theirs):]]
        problems.append(f"{len(theirs)} reference tensors vs {len(ours)} in archzoo's {name}")
        problems.extend(extra[:2])
    return pairs, problems


def reference_name(name: str, source: str) -> str:
    """The source's name for archzoo's `name`; raises for an architecture the source lacks."""
    if source not in PROVIDED:
        raise ReferenceWeightsError(f"source {source!r}: expected one of {', '.join(PROVIDED)}")
    if (source, name) in DEPARTS:
        raise ReferenceWeightsError(f"{source} does not provide archzoo's {name}: {DEPARTS[source, name]}")
    if name not in PROVIDED[source]:
        close = difflib.get_close_matches(name, PROVIDED[source], n=3, cutoff=0.4)
        hint = f"; closest it provides: {', '.join(close)}" if close else ""
        raise ReferenceWeightsError(f"{source} does not provide archzoo's {name}{hint}")
    return PROVIDED[source][name]


@functools.lru_cache(maxsize=1)
def _key_orders() -> dict[str, list[str]]:
    """Each reference state dict's key order (written by benchmarks/make_reference_fixtures.py)."""
    path = Path(__file__).parent / "_reference_maps" / "key_order.json.gz"
    return json.loads(gzip.decompress(path.read_bytes())) if path.is_file() else {}


def _in_module_order(keys: list[str], source: str, ref_name: str, drop: str | None = None) -> list[str]:
    """`keys` in the reference model's module order: safetensors files come back sorted by name.
    Keys the rules drop anyway (an older file's buffers) go last; an unknown key keeps the file's order."""
    order = _key_orders().get(f"{source}/{ref_name}")
    if order is None:
        return keys
    have, known = set(keys), set(order)
    extra = [k for k in keys if k not in known]
    if not all(drop and re.fullmatch(drop, k) for k in extra):
        return keys
    return [k for k in order if k in have] + extra


def _rename(keys: Sequence[str], rules: dict[str, Any]) -> dict[str, str]:
    """Old key -> the name the key order and rules use (files written by older library versions)."""
    out = {}
    for key in keys:
        new = key
        for pattern, repl in rules.get("rename", ()):
            new = re.sub(pattern, repl, new)
        out[key] = new
    return out


def closest_model(keys: Sequence[str], *, source: str) -> str | None:
    """The archzoo model whose `source` checkpoint has the most keys in common with `keys`."""
    have, best, best_score = set(keys), None, -1.0
    for name, ref in PROVIDED[source].items():
        want = set(_key_orders().get(f"{source}/{ref}", ()))
        score = len(have & want) / max(1, len(have | want))
        if score > best_score:
            best, best_score = name, score
    return best


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a .safetensors file, or of a .pth/.pt/.bin file read with weights_only=True."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: expected a .safetensors or .pth checkpoint, got no such file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a pickle with code in it, or not a checkpoint at all
        raise ReferenceWeightsError(f"{path}: expected a weights-only .pth state dict, got: "
                                    f"{str(e).splitlines()[0]}") from None
    return _unwrap(obj, str(path))


def _unwrap(obj: Any, where: str) -> dict[str, torch.Tensor]:
    for key in ("state_dict", "model", "model_state"):  # training checkpoints wrap the weights
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ReferenceWeightsError(f"{where}: expected a state dict of tensors, got {type(obj).__name__}")
    prefix = "module."  # saved from DistributedDataParallel
    if obj and all(k.startswith(prefix) for k in obj):
        obj = {k[len(prefix):]: v for k, v in obj.items()}
    return dict(obj)


def load_reference_weights(model: nn.Module, state_dict_or_path: Mapping[str, torch.Tensor] | str | Path,
                           source: str = "torchvision", *, head: bool = True,
                           adapt_in_chans: bool = False) -> nn.Module:
    """Copy a torchvision, timm or Hugging Face checkpoint of the same architecture into `model`
    (in place).

    With `head=False` the last classifier layer is left as it is when its class count differs (for
    transfer learning); with `adapt_in_chans=True` the first conv's RGB filters are summed for a
    1-channel model (repeated and rescaled for more channels)."""
    name = getattr(model, "model_name", type(model).__name__)
    ref_name = reference_name(name, source)
    sd = (read_state_dict(state_dict_or_path) if isinstance(state_dict_or_path, (str, Path))
          else _unwrap(state_dict_or_path, "state dict"))
    rules = _rules(source, name)
    sd = _fill_tied({new: sd[old] for old, new in _rename(list(sd), rules).items()}, rules)
    sd = _convert({k: sd[k] for k in _in_module_order(list(sd), source, ref_name, rules.get("drop"))}, rules)
    pairs, problems = _pair(model, [(k, tuple(v.shape)) for k, v in sd.items()], rules, name=name,
                            head=head, adapt_in_chans=adapt_in_chans)
    if problems:
        close = closest_model(list(sd), source=source)
        raise ReferenceWeightsError(
            f"{source} checkpoint does not map onto archzoo's {name}: {'; '.join(problems[:3])}"
            f"{f' (+{len(problems) - 3} more)' if len(problems) > 3 else ''}; closest archzoo model: {close}")
    ours = model.state_dict()
    new = {}
    for rk, ok, how in pairs:
        value, target = sd[rk], ours[ok]
        if how == "skip":
            value = target
        elif how == "in_chans":
            c, rgb = target.shape[1], value.shape[1]  # sum for gray; else tile and rescale
            tiled = value.repeat(1, -(-c // rgb), 1, 1)[:, :c] * (rgb / c)
            value = value.sum(1, keepdim=True) if c == 1 else tiled
        new[ok] = value.reshape(target.shape).to(target.dtype)
    model.load_state_dict(new, strict=True)
    _adjust(model, rules)
    return model


@torch.no_grad()
def _adjust(model: nn.Module, rules: dict[str, Any]) -> None:
    """What the reference computes differently with the same tensors: normalization eps, and
    attention scores without the 1/sqrt(hs) factor (folded into W_q here)."""
    from ..blocks.attention import MultiHeadAttention

    for m in model.modules():
        if rules.get("bn_eps") and isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eps = rules["bn_eps"]
        if rules.get("ln_eps") and isinstance(m, nn.LayerNorm):
            m.eps = rules["ln_eps"]
        if rules.get("unscaled_attention") and isinstance(m, MultiHeadAttention):
            m.qkv.weight[: m.dim] *= m.head_dim ** 0.5


def init_for_transfer(model: nn.Module, path: str | Path, *, source: str, freeze: str,
                      num_classes: int) -> None:
    """`archzoo train --init`: reference weights, a fresh head for `num_classes`, and with
    freeze="body" every parameter outside the head frozen (batch-norm statistics still adapt)."""
    load_reference_weights(model, path, source, head=False, adapt_in_chans=True)
    if hasattr(model, "reset_head"):
        model.reset_head(num_classes)
    if freeze == "body":
        trainable = {id(p) for p in model.head.parameters()} if hasattr(model, "head") else set()
        for p in model.parameters():
            p.requires_grad_(id(p) in trainable)
