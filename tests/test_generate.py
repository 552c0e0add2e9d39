"""The generate() contract on a bigram model whose best sequences can be found by brute force."""
from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn as nn

from archzoo.generate import StepDecoder, generate, pad_prompts


class Bigram(nn.Module):
    """logits of the next token depend only on the last one: state = last token (B,)."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.table = nn.Parameter(table)

    def start(self, prompt, lengths):
        last = prompt.gather(1, (lengths - 1).unsqueeze(1)).squeeze(1)
        return self.table[last], last

    def step(self, tokens, state):
        return self.table[tokens], tokens

    def reorder_state(self, state, index):
        return state[index]


def _model(V=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return Bigram(torch.randn(V, V, generator=g) * 2)


def _logp_of(model, first, seq):
    lp = model.table.detach().log_softmax(-1)
    total, prev = 0.0, first
    for tok in seq:
        total += float(lp[prev, tok])
        prev = tok
    return total


def test_protocol_and_greedy_follows_argmax():
    model = _model()
    assert isinstance(model, StepDecoder)
    out = generate(model, [[1]], max_new_tokens=5, temperature=0)[0]
    prev, expect = 1, []
    for _ in range(5):
        prev = int(model.table[prev].argmax())
        expect.append(prev)
    assert out == expect
    assert generate(model, [[1]], max_new_tokens=5, num_beams=1, temperature=0)[0] == expect


def test_batched_prompts_of_different_lengths_match_one_by_one():
    model = _model()
    prompts = [[0, 2, 3], [1], [3, 3]]
    batched = generate(model, prompts, max_new_tokens=6, temperature=0)
    assert batched == [generate(model, [p], max_new_tokens=6, temperature=0)[0] for p in prompts]
    ids, lengths = pad_prompts(prompts, pad_id=0)
    assert ids.shape == (3, 3) and lengths.tolist() == [3, 1, 2]


def test_sampling_is_seeded_and_filters():
    model = _model(V=6)
    a = generate(model, [[0], [1]], max_new_tokens=20, temperature=1.0, seed=3)
    assert a == generate(model, [[0], [1]], max_new_tokens=20, temperature=1.0, seed=3)
    assert a != generate(model, [[0], [1]], max_new_tokens=20, temperature=1.0, seed=4)
    greedy = generate(model, [[0]], max_new_tokens=10, temperature=0)
    assert generate(model, [[0]], max_new_tokens=10, top_k=1, seed=1) == greedy
    assert generate(model, [[0]], max_new_tokens=10, top_p=1e-6, seed=1) == greedy
    allowed = set(model.table.topk(2, dim=-1).indices.flatten().tolist())
    sampled = generate(model, [[0]], max_new_tokens=50, top_k=2, temperature=5.0, seed=0)[0]
    prev = 0
    for tok in sampled:  # every choice is one of the two best after its predecessor
        assert tok in model.table[prev].topk(2).indices.tolist() and tok in allowed
        prev = tok


def test_beam_search_finds_the_brute_force_optimum():
    model = _model(V=3, seed=1)
    best = max(itertools.product(range(3), repeat=4), key=lambda s: _logp_of(model, 0, s))
    out = generate(model, [[0]], max_new_tokens=4, num_beams=27, length_penalty=0.0)[0]
    assert tuple(out) == best
    greedy = generate(model, [[0]], max_new_tokens=4, temperature=0)[0]
    assert _logp_of(model, 0, out) >= _logp_of(model, 0, greedy)


def test_beam_search_with_end_token():
    model = _model(V=4, seed=2)
    eos = 3
    # every sequence that ends with eos within 4 tokens, or runs 4 tokens without it
    cands = [s + (eos,) for n in range(4) for s in itertools.product(range(3), repeat=n)]
    cands += list(itertools.product(range(3), repeat=4))
    best = max(cands, key=lambda s: _logp_of(model, 0, s))
    out = generate(model, [[0], [0]], max_new_tokens=4, num_beams=16, length_penalty=0.0, eos_id=eos)
    expect = [t for t in best if t != eos]
    assert out == [expect, expect]


def test_eos_stops_rows_independently():
    table = torch.full((4, 4), -10.0)
    table[0, 1] = table[1, 3] = table[2, 2] = 10.0  # 0 -> 1 -> eos(3); 2 -> 2 -> 2 ...
    out = generate(Bigram(table), [[0], [2]], max_new_tokens=5, temperature=0, eos_id=3)
    assert out == [[1], [2, 2, 2, 2, 2]]


@pytest.mark.parametrize("bad, match", [
    (dict(prompts=[[1], []]), "empty prompt"),
    (dict(prompts=[[1]], num_beams=0), "beam width"),
    (dict(prompts=[[1]], temperature=-1), "temperature"),
    (dict(prompts=[[1]], top_p=0.0), "top_p"),
])
def test_bad_options_fail_with_a_message(bad, match):
    with pytest.raises(ValueError, match=match):
        generate(_model(), **bad)
