"""archzoo.generate: one decoding contract for every sequence model.

A model generates if it implements `StepDecoder`, three methods around an opaque state:

    start(prompt, lengths) -> (logits, state)
        prompt: token ids (B, T), right-padded; lengths: (B,) real lengths (each >= 1).
        logits: (B, V) for the first new token of each row; state: whatever the model needs to go
        on (an RNN's hidden state; a seq2seq model's encoder memory and decoder state; a
        Transformer's KV cache).
    step(tokens, state) -> (logits, state)
        tokens: (B,) the token just chosen for each row; logits (B, V) for the next one.
    reorder_state(state, index) -> state
        keep (and repeat) the rows `index` (N,) of the batch, in that order: beam search expands
        each row into beams and follows the surviving ones.

`generate(model, prompts, ...)` then does the rest: greedy (`temperature=0`), sampling with
temperature / top-k / top-p (Holtzman et al. 2019, "The Curious Case of Neural Text Degeneration",
arXiv:1904.09751), or beam search (`num_beams > 1`, scores divided by length**length_penalty as in
Wu et al. 2016, arXiv:1609.08144, simplified to the plain length). A seeded generator makes sampling
repeatable; `eos_id` ends a row (the end token is not returned). Models expose it as
`model.generate(prompts, **options)`.
"""
from ._decode import GenerateConfig, StepDecoder, generate, pad_prompts

__all__ = ["GenerateConfig", "StepDecoder", "generate", "pad_prompts"]
