"""Training: objectives, the loop, checkpoints, devices, run directories."""

from vaelab.training.config import RunConfig
from vaelab.training.objectives import make_objective
from vaelab.training.pretrained import from_pretrained
from vaelab.training.run import Run, load_run
from vaelab.training.run_dir import RunDir
from vaelab.training.tensorboard import TensorBoardOptions, tensorboard_options
from vaelab.training.trainer import TrainingInterrupted, TrainResult, prepare_config, train

__all__ = [
    "Run",
    "RunConfig",
    "RunDir",
    "TensorBoardOptions",
    "TrainResult",
    "TrainingInterrupted",
    "from_pretrained",
    "load_run",
    "make_objective",
    "prepare_config",
    "tensorboard_options",
    "train",
]
