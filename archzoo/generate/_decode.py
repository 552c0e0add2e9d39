"""Greedy, sampling and beam-search decoding over the `StepDecoder` protocol (see the package doc)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol, Sequence, runtime_checkable

import torch
from torch import Tensor


@runtime_checkable
class StepDecoder(Protocol):
    def start(self, prompt: Tensor, lengths: Tensor) -> tuple[Tensor, Any]: ...

    def step(self, tokens: Tensor, state: Any) -> tuple[Tensor, Any]: ...

    def reorder_state(self, state: Any, index: Tensor) -> Any: ...


@dataclass(frozen=True)
class GenerateConfig:
    max_new_tokens: int = 50
    temperature: float = 1.0  # 0 = greedy
    top_k: int | None = None
    top_p: float | None = None
    num_beams: int = 1
    length_penalty: float = 1.0
    eos_id: int | None = None
    pad_id: int = 0
    seed: int | None = None
    use_cache: bool = True  # False: every step re-encodes the whole prefix (the cache's baseline)

    def check(self) -> None:
        if self.max_new_tokens < 0:
            raise ValueError(f"expected max_new_tokens >= 0, got {self.max_new_tokens}")
        if self.num_beams < 1:
            raise ValueError(f"expected a beam width (num_beams) >= 1, got {self.num_beams}")
        if self.temperature < 0:
            raise ValueError(f"expected temperature >= 0 (0 = greedy), got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"expected top_k >= 1, got {self.top_k}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"expected top_p in (0, 1], got {self.top_p}")
        if not self.use_cache and self.num_beams > 1:
            raise ValueError(f"use_cache=False decodes greedy or sampled only; expected num_beams 1, "
                             f"got {self.num_beams}")


def pad_prompts(prompts: Sequence[Sequence[int]] | Tensor, *, pad_id: int = 0,
                device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
    """Token-id lists of different lengths -> right-padded ids (B, T) and lengths (B,)."""
    if isinstance(prompts, Tensor):
        if prompts.ndim == 1:
            prompts = prompts.unsqueeze(0)
        return prompts.to(device), torch.full((prompts.shape[0],), prompts.shape[1], device=device)
    if len(prompts) == 0:
        raise ValueError("expected at least one prompt, got none")
    lengths = [len(p) for p in prompts]
    if min(lengths) == 0:
        raise ValueError(f"empty prompt at position {lengths.index(0)}: give at least one token")
    ids = torch.full((len(prompts), max(lengths)), pad_id, dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, : len(p)] = torch.as_tensor(list(p), dtype=torch.long)
    return ids.to(device), torch.tensor(lengths, device=device)


def _filter(logits: Tensor, top_k: int | None, top_p: float | None) -> Tensor:
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]  # B 1
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        drop = cum - sorted_logits.softmax(-1) >= top_p  # mass before this token already reaches p
        drop[:, 0] = False  # the most likely token always stays
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


def _choose(logits: Tensor, cfg: GenerateConfig, gen: torch.Generator | None) -> Tensor:
    if cfg.temperature == 0:
        return logits.argmax(dim=-1)
    probs = _filter(logits.float() / cfg.temperature, cfg.top_k, cfg.top_p).softmax(dim=-1)
    return torch.multinomial(probs.cpu(), 1, generator=gen).squeeze(1).to(logits.device)


@torch.no_grad()
def generate(model: StepDecoder, prompts: Sequence[Sequence[int]] | Tensor, *,
             lengths: Tensor | None = None, **options: Any) -> list[list[int]]:
    """Continue each prompt; returns the new token ids of each row (without the end token).

    options are `GenerateConfig`'s fields: max_new_tokens, temperature (0 = greedy), top_k, top_p,
    num_beams, length_penalty, eos_id, pad_id, seed, use_cache (False: no state is carried, each
    step calls `start` on the prompt plus the tokens so far; for measuring what the cache saves).
    """
    cfg = GenerateConfig(**options)
    cfg.check()
    if not isinstance(model, StepDecoder):
        raise TypeError(f"{type(model).__name__} cannot generate: it needs start, step and reorder_state")
    device = next((p.device for p in model.parameters()), None) if hasattr(model, "parameters") else None
    ids, lens = pad_prompts(prompts, pad_id=cfg.pad_id, device=device)
    if lengths is not None:
        lens = lengths.to(ids.device)
    if cfg.max_new_tokens == 0:
        return [[] for _ in range(ids.shape[0])]
    was_training = getattr(model, "training", False)
    if was_training:
        model.eval()  # type: ignore[attr-defined]
    try:
        if cfg.num_beams > 1:
            return _beam_search(model, ids, lens, cfg)
        return _sample(model if cfg.use_cache else _Recompute(model), ids, lens, cfg)
    finally:
        if was_training:
            model.train()  # type: ignore[attr-defined]


class _Recompute:
    """A decoder without a cache: the state is the right-padded ids and lengths so far, and each
    step re-encodes them all with the model's `start`."""

    def __init__(self, model: StepDecoder) -> None:
        self.model = model

    def start(self, prompt: Tensor, lengths: Tensor) -> tuple[Tensor, Any]:
        return self.model.start(prompt, lengths)[0], (prompt, lengths)

    def step(self, tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
        ids, lengths = state
        ids = torch.cat([ids, ids.new_zeros(ids.shape[0], 1)], dim=1)  # B T+1
        ids.scatter_(1, lengths[:, None], tokens[:, None])  # each row's token right after its last
        lengths = lengths + 1
        return self.model.start(ids, lengths)[0], (ids, lengths)


def _sample(model: StepDecoder, ids: Tensor, lens: Tensor, cfg: GenerateConfig) -> list[list[int]]:
    gen = None if cfg.seed is None else torch.Generator().manual_seed(cfg.seed)
    B = ids.shape[0]
    logits, state = model.start(ids, lens)
    out: list[list[int]] = [[] for _ in range(B)]
    done = torch.zeros(B, dtype=torch.bool)
    for t in range(cfg.max_new_tokens):
        tok = _choose(logits, cfg, gen)  # B
        for b in range(B):
            if not done[b]:
                if cfg.eos_id is not None and tok[b] == cfg.eos_id:
                    done[b] = True
                else:
                    out[b].append(int(tok[b]))
        if bool(done.all()) or t == cfg.max_new_tokens - 1:
            break
        logits, state = model.step(tok.masked_fill(done.to(tok.device), cfg.pad_id), state)
    return out


def _beam_search(model: StepDecoder, ids: Tensor, lens: Tensor, cfg: GenerateConfig) -> list[list[int]]:
    """Beam search with length-normalised final scores; each row keeps K live beams."""
    B, K = ids.shape[0], cfg.num_beams
    logits, state = model.start(ids, lens)
    rows = torch.arange(B, device=logits.device).repeat_interleave(K)  # B*K
    state = model.reorder_state(state, rows)
    logp = logits.float().log_softmax(-1)[rows]  # B*K V
    scores = torch.full((B, K), -math.inf, device=logp.device)
    scores[:, 0] = 0.0  # every beam starts as the same prompt: expand from one only
    seqs: list[list[list[int]]] = [[[] for _ in range(K)] for _ in range(B)]
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(B)]
    closed = [False] * B

    def norm(score: float, length: int) -> float:
        return score / (max(length, 1) ** cfg.length_penalty)

    for t in range(cfg.max_new_tokens):
        V = logp.shape[-1]
        cand = (scores.reshape(-1, 1) + logp).reshape(B, K * V)  # B K*V
        top_s, top_i = cand.topk(min(2 * K, K * V), dim=-1)
        new_scores = torch.full((B, K), -math.inf, device=logp.device)
        src = torch.zeros(B, K, dtype=torch.long)
        toks = torch.full((B, K), cfg.pad_id, dtype=torch.long)
        new_seqs: list[list[list[int]]] = []
        for b in range(B):
            kept: list[list[int]] = []
            if not closed[b]:
                for rank, (s, i) in enumerate(zip(top_s[b].tolist(), top_i[b].tolist())):
                    if s == -math.inf:
                        break
                    beam, tok = divmod(i, V)
                    if cfg.eos_id is not None and tok == cfg.eos_id:
                        if rank < K:
                            finished[b].append((norm(s, t + 1), seqs[b][beam]))
                        continue
                    new_scores[b, len(kept)], src[b, len(kept)], toks[b, len(kept)] = s, beam, tok
                    kept.append(seqs[b][beam] + [tok])
                    if len(kept) == K:
                        break
                best_live = norm(float(new_scores[b, 0]), t + 1)
                if len(finished[b]) >= K and max(f[0] for f in finished[b]) >= best_live:
                    closed[b] = True
                    new_scores[b] = -math.inf
            new_seqs.append(kept + [[] for _ in range(K - len(kept))])
        seqs, scores = new_seqs, new_scores
        if all(closed) or t == cfg.max_new_tokens - 1:
            break
        flat = (torch.arange(B).unsqueeze(1) * K + src).flatten().to(logp.device)  # B*K
        state = model.reorder_state(state, flat)
        logits, state = model.step(toks.flatten().to(logp.device), state)
        logp = logits.float().log_softmax(-1)
    results = []
    for b in range(B):
        pool = list(finished[b])
        if not closed[b]:
            pool += [(norm(float(scores[b, k]), len(seqs[b][k])), seqs[b][k])
                     for k in range(K) if scores[b, k] > -math.inf]
        results.append(max(pool, key=lambda p: p[0])[1] if pool else [])
    return results
