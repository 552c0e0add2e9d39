"""archzoo.train: the trainer, its run directories and checkpoints, and evaluation.

`train(TrainConfig(model=..., data=...))` trains a registered model on a dataset into a run
directory; `resume(run_dir)` continues one exactly; `load_checkpoint(path)` rebuilds a trained
model for `evaluate` or prediction. Tasks (`ClassificationTask`, and models that bring their own
`train_step`) keep the loop independent of what a batch means.
"""
from .checkpoint import CheckpointError, load_checkpoint, load_weights
from .config import TrainConfig
from .evaluate import EvalResult, evaluate
from .optim import Schedule, build_optimizer
from .tasks import ClassificationTask, StepOutput, Task
from .trainer import TrainingDiverged, TrainResult, resume, train

__all__ = [
    "CheckpointError", "ClassificationTask", "EvalResult", "Schedule", "StepOutput", "Task",
    "TrainConfig", "TrainResult", "TrainingDiverged", "build_optimizer", "evaluate",
    "load_checkpoint", "load_weights", "resume", "train",
]
