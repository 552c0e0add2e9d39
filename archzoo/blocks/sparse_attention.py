"""BigBird block-sparse self-attention: window + global + random blocks (seed 000, "BigBird").

Zaheer et al. 2020, "Big Bird: Transformers for Longer Sequences" (arXiv:2007.14062), section 2
and appendix D. The sequence is cut into blocks of `block_size` tokens. In the ITC form used here
the first and last blocks are global: their queries attend to every key, and every query attends
to their keys. Each other query block i attends to its sliding window (blocks i-1, i, i+1), the two
global blocks and `num_random_blocks` random blocks drawn from the rest. Attention is computed on
gathered key/value blocks, so time and memory grow linearly with length: each middle query block
scores (5 + r) * block_size keys and the two global query blocks score T keys; no T x T matrix is
ever formed. `dense_mask` builds the equivalent (nh, T, T) boolean mask, for tests and plots only;
`keep_weights = True` (as on `MultiHeadAttention`) stores the weights spread out to (B nh T T).

Departures from the paper and from the reference implementation:
- The random blocks are fixed: drawn per head from a generator seeded with (`seed`, number of
  blocks), so one layer (give each layer its own seed) always uses the same pattern; the reference
  redraws them at every training step. Drawing them costs a (nh, n-2, n) table over the n = T / b
  blocks, about T^2 / b^2 numbers per head, negligible next to the activations.
- The sparse pattern is used at every length; the reference switches to full attention when
  T <= (5 + 2r) * b. Short inputs still attend to every block they are allowed to.
- When a key block is both in the window and global (query blocks 1 and n-2), it is scored once:
  the repeated slot is masked out, so the result equals dense attention under `dense_mask`.
- A length that is not a multiple of `block_size` is padded inside with masked keys, and the
  padded queries are dropped from the output; the last block, global, then holds the last real
  tokens and the padding.
Shape letters: B batch, T sequence, D model dim, nh heads, hs head size, n blocks, b block size,
K key blocks per query block.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .attention import MultiHeadAttention


def block_pattern(num_blocks: int, num_heads: int, *, num_random_blocks: int, seed: int,
                  device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Key blocks of each middle query block: indices (nh, n-2, K) and validity (nh, n-2, K).

    Slots are [first, last, i-1, i, i+1, r random]; a slot is valid where its block has not
    appeared in an earlier slot of the row and, for random slots, where one could be drawn.
    """
    n, r = num_blocks, num_random_blocks
    cpu = torch.device("cpu")  # drawn on the CPU, whatever the default device, then moved
    mid = torch.arange(1, n - 1, device=cpu)  # query blocks that are not global
    fixed = torch.stack([torch.zeros_like(mid), torch.full_like(mid, n - 1), mid - 1, mid, mid + 1], 1)
    fixed = fixed[None].expand(num_heads, -1, -1)  # (nh n-2 5)
    gen = torch.Generator().manual_seed(seed * 1_000_003 + n)
    draw = torch.rand(num_heads, n - 2, n, generator=gen, device=cpu)  # (nh n-2 n): one score per key block
    taken = torch.zeros(num_heads, n - 2, n, dtype=torch.bool, device=cpu).scatter_(2, fixed, True)
    draw = draw.masked_fill(taken, 2.0)  # random blocks come from outside the window and globals
    k = min(r, n)
    score, rand = draw.topk(k, dim=2, largest=False)  # (nh n-2 k)
    rand_ok = score < 2.0
    if k < r:  # fewer blocks than r: pad with invalid slots
        rand = torch.cat([rand, rand.new_zeros(num_heads, n - 2, r - k)], 2)
        rand_ok = torch.cat([rand_ok, rand_ok.new_zeros(num_heads, n - 2, r - k)], 2)
    index = torch.cat([fixed, rand], 2)  # (nh n-2 K)
    earlier = (index[..., :, None] == index[..., None, :]).tril(-1).sum(-1) > 0  # repeats an earlier slot
    valid = ~earlier & torch.cat([torch.ones_like(fixed, dtype=torch.bool), rand_ok], 2)
    return index.to(device), valid.to(device)


def dense_mask(seq_len: int, num_heads: int, *, block_size: int, num_random_blocks: int, seed: int,
               device: torch.device | None = None) -> torch.Tensor:
    """The pattern as a (nh, T, T) boolean mask, True where query i may attend key j (quadratic:
    for tests and plots). T is rounded up to whole blocks and cut back."""
    n = -(-seq_len // block_size)
    blocks = torch.zeros(num_heads, n, n, dtype=torch.bool, device="cpu")
    blocks[:, [0, -1], :] = True  # global queries
    blocks[:, :, [0, -1]] = True  # global keys
    if n > 2:
        index, valid = block_pattern(n, num_heads, num_random_blocks=num_random_blocks, seed=seed)
        hits = torch.zeros(num_heads, n - 2, n, device="cpu").scatter_add_(2, index, valid.float())  # (nh n-2 n)
        blocks[:, 1:-1] |= hits > 0
    mask = blocks.repeat_interleave(block_size, 1).repeat_interleave(block_size, 2)
    return mask[:, :seq_len, :seq_len].to(device)


class BigBirdAttention(MultiHeadAttention):
    """Block-sparse multi-head self-attention, (B T D) -> (B T D), with `MultiHeadAttention`'s
    parameters (`qkv`, `proj`), so it can stand in for it inside an `EncoderBlock`."""

    def __init__(self, dim: int, num_heads: int, *, block_size: int = 64, num_random_blocks: int = 3,
                 seed: int = 0, bias: bool = True, attn_drop: float = 0.0, proj_drop: float = 0.0) -> None:
        super().__init__(dim, num_heads, bias=bias, attn_drop=attn_drop, proj_drop=proj_drop, impl="math")
        if block_size < 1 or num_random_blocks < 0:
            raise ValueError(f"expected block_size >= 1 and num_random_blocks >= 0; got {block_size} "
                             f"and {num_random_blocks}")
        self.block_size, self.num_random_blocks, self.seed = block_size, num_random_blocks, seed
        self._patterns: dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]] = {}

    def pattern(self, num_blocks: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        key = (num_blocks, str(device))
        if key not in self._patterns:  # fixed per layer: computed once per number of blocks
            self._patterns[key] = block_pattern(num_blocks, self.num_heads, seed=self.seed, device=device,
                                                num_random_blocks=self.num_random_blocks)
        return self._patterns[key]

    def dense_mask(self, seq_len: int) -> torch.Tensor:
        return dense_mask(seq_len, self.num_heads, block_size=self.block_size,
                          num_random_blocks=self.num_random_blocks, seed=self.seed)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None, *,
                attn_mask: torch.Tensor | None = None, key_padding_mask: torch.Tensor | None = None,
                is_causal: bool = False, **unsupported) -> torch.Tensor:
        given = [k for k, v in (("context", context), ("attn_mask", attn_mask), ("is_causal", is_causal or None),
                                *unsupported.items()) if v is not None]
        if given:
            raise ValueError(f"BigBirdAttention is bidirectional self-attention with a key_padding_mask "
                             f"only; got {', '.join(given)}")
        b, t, _ = x.shape
        bs = self.block_size
        n = -(-t // bs)
        tp = n * bs
        pad = torch.zeros(b, t, dtype=torch.bool, device=x.device)
        if key_padding_mask is not None:
            if tuple(key_padding_mask.shape) != (b, t):
                raise ValueError(f"key_padding_mask must have shape (B, T) = ({b}, {t}); "
                                 f"got {tuple(key_padding_mask.shape)}")
            pad = key_padding_mask.bool()
        if tp != t:
            x = F.pad(x, (0, 0, 0, tp - t))
            pad = F.pad(pad, (0, tp - t), value=True)
        q, k, v = (self._heads(z) for z in self.qkv(x).chunk(3, dim=-1))  # (B nh Tp hs)
        scale = 1.0 / math.sqrt(self.head_dim)
        neg = torch.finfo(q.dtype).min  # finite: a row of padding only gets uniform weights, no NaN
        drop = self.attn_drop if self.training else 0.0

        def attend(qs: torch.Tensor, ks: torch.Tensor, vs: torch.Tensor, allowed: torch.Tensor):
            scores = (qs * scale) @ ks.transpose(-2, -1)  # scaling the queries: one score-sized tensor less
            weights = scores.masked_fill(~allowed, neg).softmax(dim=-1)
            return (F.dropout(weights, p=drop) if drop > 0 else weights) @ vs, weights

        # global query blocks (first and last) see every key: (B nh 2b Tp)
        glob = torch.cat([q[:, :, :bs], q[:, :, -bs:]], 2) if n > 1 else q
        out_glob, w_glob = attend(glob, k, v, ~pad[:, None, None, :])  # (B nh 2b hs), (B nh 2b Tp)
        index, w_mid = None, None
        if n <= 2:
            out = out_glob if n == 2 else out_glob[:, :, :bs]
        else:
            index, valid = self.pattern(n, x.device)  # (nh n-2 K)
            heads = torch.arange(self.num_heads, device=x.device)[:, None, None]
            kb = k.view(b, self.num_heads, n, bs, -1)[:, heads, index]  # (B nh n-2 K b hs)
            vb = v.view(b, self.num_heads, n, bs, -1)[:, heads, index]
            kb, vb = kb.flatten(3, 4), vb.flatten(3, 4)  # (B nh n-2 K*b hs)
            key_ok = ~pad.view(b, n, bs)[:, index]  # (B nh n-2 K b)
            allowed = (key_ok & valid[None, ..., None]).flatten(3, 4)[:, :, :, None, :]  # (B nh n-2 1 K*b)
            qm = q[:, :, bs:-bs].reshape(b, self.num_heads, n - 2, bs, -1)  # (B nh n-2 b hs)
            out_mid, w_mid = attend(qm, kb, vb, allowed)  # (B nh n-2 b hs), (B nh n-2 b K*b)
            out_mid = out_mid.flatten(2, 3)  # (B nh (n-2)*b hs)
            out = torch.cat([out_glob[:, :, :bs], out_mid, out_glob[:, :, bs:]], 2)  # (B nh Tp hs)
        if self.keep_weights:  # for plots: spread out to (B nh T T), quadratic, as MultiHeadAttention's
            self.attn_weights = self._dense_weights(w_glob, w_mid, index, n)[:, :, :t, :t].detach()
        out = out.transpose(1, 2).reshape(b, tp, self.dim)[:, :t]  # (B T D)
        return self.proj_drop(self.proj(out))

    def _dense_weights(self, w_glob: torch.Tensor, w_mid: torch.Tensor | None, index: torch.Tensor | None,
                       n: int) -> torch.Tensor:
        """The attention weights of every query over every key, (B nh Tp Tp); zero off the pattern."""
        b, bs = w_glob.shape[0], self.block_size
        dense = w_glob.new_zeros(b, self.num_heads, n, bs, n * bs)  # (B nh n b Tp)
        dense[:, :, 0] = w_glob[:, :, :bs]
        if n > 1:
            dense[:, :, -1] = w_glob[:, :, -bs:]
        if w_mid is not None:
            cols = (index[..., None] * bs + torch.arange(bs, device=index.device)).flatten(-2)  # (nh n-2 K*b)
            cols = cols[None, :, :, None, :].expand_as(w_mid)
            dense[:, :, 1:-1].scatter_add_(-1, cols, w_mid)  # masked slots carry weight 0
        return dense.flatten(2, 3)
