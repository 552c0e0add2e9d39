"""`TrainConfig`: every option of a training run, typed once for the CLI, the API and config.json."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "step", "cosine", "onecycle", "inverse-sqrt")
# Learning rates that train the zoo's small nets well from scratch; used when --lr is not given.
DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3}


def _opt(help_text: str, **kw: Any) -> Any:
    return field(metadata={"help": help_text}, **kw)


@dataclass
class TrainConfig:
    model: str = field(default="", metadata={"help": "registered model name (archzoo list)",
                                              "positional": True})
    data: str = _opt("dataset name (digits, fashion-mnist, ...; a corpus such as pystdlib or shakespeare, "
                     "or a task such as dates, for sequence models) or a path", default="digits")
    data_dir: Optional[str] = _opt("where a named dataset's files are", default=None)
    out: Optional[str] = _opt("run directory (default runs/MODEL-DATA-TIME)", default=None)
    epochs: int = _opt("passes over the training set", default=10)
    batch_size: int = _opt("examples per optimizer step, over all processes", default=64)
    optimizer: Literal["sgd", "adam", "adamw", "rmsprop"] = _opt("optimizer", default="sgd")
    lr: Optional[float] = _opt("peak learning rate (default: 0.05 for sgd, 1e-3 otherwise)",
                               default=None)
    momentum: float = _opt("SGD / RMSprop momentum", default=0.9)
    nesterov: bool = _opt("Nesterov momentum (SGD)", default=False)
    weight_decay: float = _opt("L2 penalty (decoupled for adamw)", default=0.0)
    label_smoothing: float = _opt("cross-entropy label smoothing", default=0.0)
    schedule: Literal["constant", "step", "cosine", "onecycle", "inverse-sqrt"] = _opt(
        "learning-rate schedule, applied per step (inverse-sqrt: Vaswani et al.'s warm-up then "
        "1/sqrt(step) decay, peaking at --lr after --warmup-epochs)", default="cosine")
    warmup_epochs: float = _opt("linear warm-up from 0 to lr (one-cycle: default 30%% of the run)",
                                default=0.0)
    step_size: int = _opt("step schedule: epochs between decays", default=30)
    gamma: float = _opt("step schedule: decay factor", default=0.1)
    min_lr: float = _opt("cosine schedule: the learning rate it decays to (nanoGPT's min_lr)", default=0.0)
    clip_grad: Optional[float] = _opt("clip the global gradient norm to this", default=None)
    bf16: bool = _opt("bfloat16 autocast on CPU", default=False)
    seed: int = _opt("seed for initialization, split, shuffling and augmentation", default=0)
    val_fraction: float = _opt("share of the training set held out for validation (0: none)",
                               default=0.1)
    augment: bool = _opt("random crop with padding and horizontal flip", default=False)
    resize: Optional[int] = _opt("resize images to this side", default=None)
    model_args: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "model config overrides, e.g. --model-args drop_rate=0.1 stem=cifar"})
    init: Optional[str] = _opt("start from a reference checkpoint (.safetensors or .pth) of the same "
                               "architecture, or a pre-trained archzoo encoder (masked-lm -> text "
                               "classifier); the head is reset to the data's classes", default=None)
    source: Literal["torchvision", "timm", "huggingface"] = _opt("whose checkpoint --init is",
                                                                 default="torchvision")
    freeze: Literal["none", "body"] = _opt("with --init: train only the head", default="none")
    overwrite: bool = _opt("replace a run already in --out", default=False)
    keep_checkpoints: int = _opt("also keep the weights of the last K epochs as epoch-N checkpoints, "
                                 "for `archzoo avg-checkpoints` (0: only last and best)", default=0)
    max_steps_per_epoch: Optional[int] = _opt("cap steps per epoch (quick checks)", default=None)
    threads: Optional[int] = _opt("torch intra-op threads (default: torch's choice)", default=None)
    progress: bool = _opt("show the progress bar and per-epoch lines", default=True)

    def resolved_lr(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]

    def check(self) -> None:
        """Fail before anything is loaded or written, naming the option and what it accepts."""
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise ValueError(msg)

        need(bool(self.model), "expected a model name (see `archzoo list`)")
        need(self.epochs >= 1, f"--epochs: expected >= 1, got {self.epochs}")
        need(self.batch_size >= 1, f"--batch-size: expected >= 1, got {self.batch_size}")
        need(self.optimizer in OPTIMIZERS, f"--optimizer: expected one of {OPTIMIZERS}, got {self.optimizer!r}")
        need(self.schedule in SCHEDULES, f"--schedule: expected one of {SCHEDULES}, got {self.schedule!r}")
        need(self.schedule != "inverse-sqrt" or self.warmup_epochs > 0,
             "--schedule inverse-sqrt: expected --warmup-epochs > 0 (the step where the rate peaks)")
        lr = self.resolved_lr()
        need(math.isfinite(lr) and lr > 0, f"--lr: expected a positive number, got {lr}")
        need(0 <= self.label_smoothing < 1, f"--label-smoothing: expected [0, 1), got {self.label_smoothing}")
        need(0 <= self.val_fraction < 1, f"--val-fraction: expected [0, 1), got {self.val_fraction}")
        need(self.warmup_epochs >= 0, f"--warmup-epochs: expected >= 0, got {self.warmup_epochs}")
        need(self.weight_decay >= 0, f"--weight-decay: expected >= 0, got {self.weight_decay}")
        need(0 <= self.min_lr <= lr, f"--min-lr: expected 0 <= min-lr <= lr ({lr}), got {self.min_lr}")
        need(self.step_size >= 1, f"--step-size: expected >= 1, got {self.step_size}")
        need(self.clip_grad is None or self.clip_grad > 0, f"--clip-grad: expected > 0, got {self.clip_grad}")
        need(self.max_steps_per_epoch is None or self.max_steps_per_epoch >= 1,
             f"--max-steps-per-epoch: expected >= 1, got {self.max_steps_per_epoch}")
        need(self.resize is None or self.resize >= 1, f"--resize: expected >= 1, got {self.resize}")
        need(self.threads is None or self.threads >= 1, f"--threads: expected >= 1, got {self.threads}")
        need(self.keep_checkpoints >= 0, f"--keep-checkpoints: expected >= 0, got {self.keep_checkpoints}")
        need(self.init is not None or self.freeze == "none", "--freeze body: needs --init CHECKPOINT")
        need(not self.nesterov or (self.optimizer == "sgd" and self.momentum > 0),
             "--nesterov: needs --optimizer sgd and --momentum > 0")
