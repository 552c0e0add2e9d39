"""What each ATen op computes, split by kind as seed 003's per-layer table and Netscope do.

Seed 003 designs a network by tracking "operations" per layer, and its AlexNet table counts a
convolution's bias as one more multiply-accumulate per output. Netscope, which the seed points to,
splits operations by kind. An op is counted here at the ATen level, below every Python wrapper, so
`F.scaled_dot_product_attention`, `nn.MultiheadAttention`'s fused fast path and the fused RNN
kernels are seen as the kernels they are (peers that hook modules or trace Python miss them).

Kinds: `macs` (multiply-accumulates of matmul-class ops: convolution, linear, matmul, attention,
RNN gates), `muls`, `adds`, `cmps` (comparisons: ReLU, max pooling), `divs`, `exps` (exp, log,
tanh, sigmoid, pow, sqrt: the transcendental ones). Matmul-class MACs come from
`torch.utils.flop_counter`'s formulas (flops / 2) so that they agree with the cards' figures; the
fused kernels it does not know get formulas here. Element-wise costs are per output element and
approximate (a fused batch norm at inference is one multiply and one add per element).

An op with no formula, no decomposition and no claim to be free is *uncounted*: the report lists it
by name instead of counting it as zero.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.utils.flop_counter as fc

aten = torch.ops.aten
Counts = dict[str, int]
KINDS = ("macs", "muls", "adds", "cmps", "divs", "exps")


def _numel(t: Any) -> int:
    return t.numel() if isinstance(t, torch.Tensor) else 0


def _first(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, (tuple, list)) else out


def _each(kinds: Counts) -> Callable[..., Counts]:
    """A per-output-element cost."""
    def cost(args: tuple, kwargs: dict, out: Any, lecture: bool) -> Counts:
        n = _numel(_first(out))
        return {k: v * n for k, v in kinds.items()}
    return cost


def _matmul(packet: Any, bias_arg: int | None) -> Callable[..., Counts]:
    """flop_counter's formula / 2; the bias add is one MAC per output in the lecture convention."""
    formula = fc.flop_registry[packet]

    def cost(args: tuple, kwargs: dict, out: Any, lecture: bool) -> Counts:
        counts = {"macs": formula(*args, out_val=out, **kwargs) // 2}
        bias = args[bias_arg] if bias_arg is not None and len(args) > bias_arg else None
        if isinstance(bias, torch.Tensor):
            key = "macs" if lecture else "adds"
            counts[key] = counts.get(key, 0) + _numel(_first(out))
        return counts
    return cost


def _softmax_like(n: int) -> Counts:
    return {"cmps": n, "adds": 2 * n, "exps": n, "divs": n}  # max, subtract + sum, exp, divide


def _softmax(args, kwargs, out, lecture) -> Counts:
    return _softmax_like(_numel(_first(out)))


def _sdpa_cpu(args, kwargs, out, lecture) -> Counts:
    q, k, v = args[:3]
    scores = _numel(q) // q.shape[-1] * k.shape[-2]  # B * nh * T_q * T_k
    counts = _softmax_like(scores)
    counts["macs"] = fc.sdpa_flop_count(q.shape, k.shape, v.shape) // 2
    counts["muls"] = scores  # the 1/sqrt(hs) scale
    return counts


def _attention_core(batch: int, heads: int, tq: int, tk: int, dim: int) -> Counts:
    scores = batch * heads * tq * tk
    counts = _softmax_like(scores)
    counts["macs"] = 2 * batch * tq * tk * dim  # Q K^T and attn V, over nh heads of hs = D / nh
    counts["muls"] = scores  # the 1/sqrt(hs) scale
    return counts


def _native_mha(args, kwargs, out, lecture) -> Counts:
    """nn.MultiheadAttention's fused fast path: in-projections, attention, out-projection."""
    q, k = args[0], args[1]
    batch, tq, dim = q.shape if q.ndim == 3 else (1, *q.shape)
    tk = k.shape[-2]
    counts = _attention_core(batch, args[4], tq, tk, dim)
    counts["macs"] += batch * (2 * tq + 2 * tk) * dim * dim  # q, k, v and out projections
    counts["adds"] = batch * (2 * tq + 2 * tk) * dim  # their biases
    return counts


def _encoder_layer(args, kwargs, out, lecture) -> Counts:
    """nn.TransformerEncoderLayer's fused fast path: self-attention + 2-layer MLP + 2 norms."""
    src = args[0]
    batch, t, dim = src.shape if src.ndim == 3 else (1, *src.shape)
    hidden = args[14].shape[0]  # ffn_weight_1: (F, D)
    counts = _attention_core(batch, args[2], t, t, dim)
    n = batch * t * dim
    counts["macs"] += 4 * n * dim + 2 * n * hidden
    counts["adds"] += 6 * n + batch * t * hidden + 8 * n  # biases, residuals, 2 norms
    counts["muls"] += 6 * n
    counts["cmps"] += batch * t * hidden
    return counts


def _rnn_cost(steps_x_batch: int, weights: list[torch.Tensor], hidden: int, gates: int) -> Counts:
    """Gate matmuls from the weight shapes; element-wise gate math per hidden unit per step."""
    macs = steps_x_batch * sum(w.numel() for w in weights if w.ndim == 2)
    n = steps_x_batch * hidden * (len([w for w in weights if w.ndim == 2]) // 2)
    # per hidden unit and step, biases included, as the decomposed cells count them
    per_gate = {1: {"exps": 1, "adds": 3}, 3: {"exps": 3, "muls": 2, "adds": 11},
                4: {"exps": 5, "muls": 3, "adds": 13}}[gates]
    counts = {k: v * n for k, v in per_gate.items()}
    counts["macs"] = macs
    return counts


def _mkldnn_rnn(args, kwargs, out, lecture) -> Counts:
    x, w_ih, w_hh = args[0], args[1], args[2]
    hidden = args[10]
    steps_x_batch = x.shape[0] * x.shape[1] if x.ndim == 3 else x.shape[0]
    return _rnn_cost(steps_x_batch, [w_ih, w_hh], hidden, w_ih.shape[0] // hidden)


def _cudnn_rnn(args, kwargs, out, lecture) -> Counts:
    x, weights, hidden = args[0], args[1], args[7]
    steps_x_batch = x.shape[0] * x.shape[1] if x.ndim == 3 else x.shape[0]
    mats = [w for w in weights if w.ndim == 2]
    return _rnn_cost(steps_x_batch, mats, hidden, max(1, mats[0].shape[0] // hidden))


def _window(args: tuple, n_spatial: int) -> int:
    ks = args[1] if isinstance(args[1], (list, tuple)) else [args[1]]
    ks = list(ks) * n_spatial if len(ks) == 1 else list(ks)
    return math.prod(ks)


def _pool(kind: str, n_spatial: int) -> Callable[..., Counts]:
    def cost(args, kwargs, out, lecture) -> Counts:
        n, k = _numel(_first(out)), _window(args, n_spatial)
        if kind == "max":  # seed 003's table counts k*k comparisons per output, a strict count k*k-1
            return {"cmps": n * (k if lecture else k - 1)}
        return {"adds": n * (k - 1), "divs": n}
    return cost


def _adaptive(kind: str) -> Callable[..., Counts]:
    def cost(args, kwargs, out, lecture) -> Counts:
        x, n = args[0], _numel(_first(out))
        reduce = max(1, _numel(x) // max(1, n))
        return {"cmps": n * (reduce - 1)} if kind == "max" else {"adds": n * (reduce - 1), "divs": n}
    return cost


def _reduce(extra: Counts) -> Callable[..., Counts]:
    def cost(args, kwargs, out, lecture) -> Counts:
        n_in, n_out = _numel(args[0]), _numel(_first(out))
        counts = {"adds": max(0, n_in - n_out)}
        counts.update({k: v * n_out for k, v in extra.items()})
        return counts
    return cost


def _compare(args, kwargs, out, lecture) -> Counts:
    """max / min: element-wise between two tensors, or a reduction over one."""
    n_in, n_out = _numel(args[0]), _numel(_first(out))
    return {"cmps": n_out if n_out >= n_in else n_in - n_out}


def _sort(args, kwargs, out, lecture) -> Counts:
    x = args[0]
    pos = 2 if len(args) > 2 and isinstance(args[2], int) and not isinstance(args[2], bool) else 1  # topk(x, k, dim)
    dim = args[pos] if len(args) > pos and isinstance(args[pos], int) and not isinstance(args[pos], bool) else -1
    n = x.shape[dim % x.ndim] if x.ndim else 1
    return {"cmps": x.numel() * max(1, math.ceil(math.log2(max(n, 2))))}  # n log n per sorted row


def _batch_norm(args, kwargs, out, lecture) -> Counts:
    n = _numel(_first(out))
    training = any(a is True for a in args[5:6])  # native_batch_norm(x, w, b, rm, rv, training, ...)
    return {"muls": 2 * n, "adds": 3 * n} if training else {"muls": n, "adds": n}


def _norm(args, kwargs, out, lecture) -> Counts:
    n = _numel(_first(out))  # mean, centre, square, variance, scale, affine
    return {"adds": 4 * n, "muls": 3 * n}


_POINTWISE: dict[str, Counts] = {
    **{op: {"adds": 1} for op in ("add", "sub", "rsub", "neg", "cumsum", "add_", "sub_")},
    **{op: {"muls": 1} for op in ("mul", "mul_", "square")},
    **{op: {"divs": 1} for op in ("div", "div_", "reciprocal", "floor_divide", "remainder", "fmod")},
    **{op: {"cmps": 1} for op in (
        "relu", "relu_", "threshold", "clamp", "clamp_", "clamp_min", "clamp_max", "hardtanh",
        "hardtanh_", "maximum", "minimum", "where", "eq", "ne", "lt", "gt", "le", "ge", "sign",
        "abs", "masked_fill", "bitwise_not", "bitwise_and", "bitwise_or", "bitwise_xor",
        "logical_and", "logical_or", "masked_fill_", "relu6", "logical_not", "isnan")},
    **{op: {"exps": 1} for op in (
        "exp", "exp_", "log", "log1p", "expm1", "tanh", "tanh_", "sigmoid", "sigmoid_", "erf",
        "pow", "pow_", "sqrt", "rsqrt", "sin", "cos", "log2", "exp2", "atan", "softplus")},
    **{op: {"exps": 1, "muls": 1} for op in ("gelu", "gelu_", "silu", "silu_", "mish", "mish_")},
    **{op: {"exps": 1, "cmps": 1} for op in ("elu", "elu_", "selu", "celu")},
    **{op: {"cmps": 1, "muls": 1} for op in ("leaky_relu", "leaky_relu_", "prelu", "_prelu_kernel")},
    **{op: {"cmps": 2, "muls": 1, "adds": 1} for op in ("hardswish", "hardswish_", "hardsigmoid", "hardsigmoid_")},
    **{op: {"muls": 1, "adds": 1} for op in ("addcmul", "lerp", "native_dropout", "upsample_nearest2d")},
    **{op: {"muls": 4, "adds": 3} for op in ("upsample_bilinear2d", "_upsample_bilinear2d_aa")},
}

FORMULAS: dict[str, Callable[..., Counts]] = {
    "mm": _matmul(aten.mm, None), "bmm": _matmul(aten.bmm, None),
    "addmm": _matmul(aten.addmm, 0), "baddbmm": _matmul(aten.baddbmm, 0),
    "convolution": _matmul(aten.convolution, 2), "_convolution": _matmul(aten._convolution, 2),
    "_scaled_dot_product_flash_attention_for_cpu": _sdpa_cpu,
    "_scaled_dot_product_flash_attention": _sdpa_cpu,
    "_scaled_dot_product_efficient_attention": _sdpa_cpu,
    "_scaled_dot_product_cudnn_attention": _sdpa_cpu,
    "_native_multi_head_attention": _native_mha,
    "_transformer_encoder_layer_fwd": _encoder_layer,
    "mkldnn_rnn_layer": _mkldnn_rnn, "_cudnn_rnn": _cudnn_rnn,
    "_softmax": _softmax, "_safe_softmax": _softmax, "_log_softmax": _softmax, "logsumexp": _softmax,
    **{f"max_pool{d}d{s}": _pool("max", d) for d in (1, 2, 3) for s in ("", "_with_indices")},
    **{f"avg_pool{d}d": _pool("avg", d) for d in (1, 2, 3)},
    **{f"_adaptive_avg_pool{d}d": _adaptive("avg") for d in (1, 2, 3)},
    **{f"adaptive_avg_pool{d}d": _adaptive("avg") for d in (1, 2, 3)},
    **{f"adaptive_max_pool{d}d": _adaptive("max") for d in (1, 2, 3)},
    "mean": _reduce({"divs": 1}), "sum": _reduce({}), "var": _reduce({"muls": 1}),
    "amax": _compare, "amin": _compare, "max": _compare, "min": _compare, "norm": _reduce({"exps": 1}),
    "native_batch_norm": _batch_norm, "_native_batch_norm_legit": _batch_norm,
    "_native_batch_norm_legit_no_training": _batch_norm,
    "sort": _sort, "topk": _sort, "argsort": _sort,
    "native_layer_norm": _norm, "native_group_norm": _norm, "_fused_rms_norm": _norm,
    **{op: _each(kinds) for op, kinds in _POINTWISE.items()},
}

# Ops that move, view, create or look up data without arithmetic.
FREE = frozenset("""
empty empty_like empty_strided zeros zeros_like ones ones_like full full_like fill fill_ zero_
scalar_tensor arange randn rand randint uniform_ normal_ bernoulli bernoulli_ lift_fresh lift
clone copy copy_ _to_copy contiguous detach alias t transpose permute view _unsafe_view reshape
_reshape_alias expand expand_as squeeze unsqueeze select slice unbind split split_with_sizes
unsafe_split unsafe_split_with_sizes chunk narrow cat stack constant_pad_nd embedding index_select
gather index repeat roll flip as_strided new_empty new_zeros new_ones new_full unfold diagonal
_local_scalar_dense masked_select nonzero tril triu reflection_pad1d reflection_pad2d
replication_pad1d replication_pad2d pixel_shuffle channel_shuffle native_channel_shuffle
upsample_nearest1d upsample_nearest3d _unsafe_index scatter set_ resize_ is_same_size item
transpose_ t_ squeeze_ unsqueeze_ as_strided_ detach_ _assert_async sym_size index_put index_put_
index_fill index_fill_ _pack_padded_sequence _pad_packed_sequence index_add masked_scatter scatter_ slice_scatter select_scatter one_hot
""".split())


def op_name(func: Any) -> str:
    return func._overloadpacket.__name__


def count_op(func: Any, args: tuple, kwargs: dict, out: Any, *, lecture: bool) -> Counts | None:
    """The op's counts by kind, {} for a free op, None when there is no formula for it."""
    name = op_name(func)
    formula = FORMULAS.get(name)
    if formula is not None:
        try:
            return {k: v for k, v in formula(args, kwargs, out, lecture).items() if v}
        except (IndexError, TypeError, ValueError, AttributeError):
            return None  # an overload the formula does not know: listed as uncounted
    if name in FREE or getattr(func, "is_view", False):
        return {}
    return None


def has_formula(func: Any) -> bool:
    name = op_name(func)
    return name in FORMULAS or name in FREE or getattr(func, "is_view", False)
