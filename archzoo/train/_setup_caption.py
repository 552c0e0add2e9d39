"""The setup of a captioning run: composed captioned canvases (data/captions.py) and `CaptionTask`.

`_setup_text.build_text` comes here for models whose card's task is "captioning" (TEXT_SETUPS). The
data decides the vocabulary size, the image size and the longest caption, so the model is built after
it. The canvases, splits and batches are pure functions of the config (name, --data-dir, --seed), so
`--resume` rebuilds the same ones and continues exactly.

`CaptionTask` is `Seq2SeqTask` with an image where the source sentence was: cross-entropy over real
caption tokens (padding ignored), token accuracy and exact match of whole captions under teacher
forcing (generated captions are measured by `archzoo caption RUN_DIR --eval SPLIT`).
"""
from __future__ import annotations

from typing import Any

import torch.nn as nn

from ..data.captions import KNOWN_CAPTION_SETS, CaptionBatches, CaptionData, load_captions
from ..data.readers import DataError
from ._setup_text import EVAL_BATCH, TextBundle
from .config import TrainConfig
from .tasks import StepOutput
from .tasks_seq import Seq2SeqTask


class CaptionTask(Seq2SeqTask):
    """Batches (images (B C H W), tgt_in (B T), tgt_out (B T)) for `model(images, tgt_in)`."""

    def step(self, model: nn.Module, batch: Any) -> StepOutput:
        images, tgt_in, tgt_out = batch
        return super().step(lambda x, _len, tgt: model(x, tgt), (images, None, tgt_in, tgt_out))


def caption_data(cfg: TrainConfig) -> CaptionData:
    if cfg.data not in KNOWN_CAPTION_SETS:
        raise DataError(f"--data {cfg.data}: {cfg.model} is a captioning model and expects a caption set: "
                        f"{', '.join(KNOWN_CAPTION_SETS)}")
    return load_captions(cfg.data, data_dir=cfg.data_dir, seed=cfg.seed)


def _caption_setup(cfg: TrainConfig, overrides: dict[str, Any]) -> tuple:
    data = caption_data(cfg)

    def batches(split: Any, **kw: Any) -> CaptionBatches:
        return CaptionBatches(split, data.vocab, mean=data.mean, std=data.std, **kw)

    train = batches(data.train, batch_size=cfg.batch_size, seed=cfg.seed)
    val = batches(data.val, batch_size=EVAL_BATCH, shuffle=False) if cfg.val_fraction > 0 else None
    test = batches(data.test, batch_size=EVAL_BATCH, shuffle=False)
    h, w = data.image_size
    bundle = TextBundle(data.name, data.train, data.test, data.vocab.itos, {"caption_vocab": data.vocab.to_json()},
                        "captioned images", in_chans=1, image_size=(h, w), mean=(data.mean,), std=(data.std,))
    longest = max(len(c.split()) for split in (data.train, data.val, data.test) for c in split.captions)
    # +1: the end token
    sizes = {"vocab_size": len(data.vocab), "img_size": h, "in_chans": 1, "tgt_len": longest + 1}
    return bundle, train, val, test, sizes, CaptionTask(label_smoothing=cfg.label_smoothing)
