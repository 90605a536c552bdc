"""The judge: a Fashion-MNIST classifier that scores generated images.

Metrics of generated images (the Fréchet distance, precision and recall, class coverage) need a
fixed function that maps an image to class probabilities and to a feature vector. vaelab trains
its own small CNN once (``vaelab judge train``) on the padded 32×32 images and caches it in the
user cache. Three modules:

* :mod:`.network` — the CNN (:class:`JudgeNet`), the images it accepts, and which runs it can score;
* :mod:`.training` — its own short training loop (:func:`train_judge`) and ``vaelab judge train``
  (:func:`train_and_save_judge`);
* :mod:`.storage` — the cache: the weights file and its record, the hash check on loading
  (:func:`load_judge`), and the loaded :class:`Judge` that scores images.

Every name is importable from here, as it was when the judge was one module.
"""

from vaelab.evaluation.judge.network import (
    BATCH_SIZE,
    FEATURE_DIM,
    IMAGE_SHAPE,
    JUDGE_DATASET,
    NUM_CLASSES,
    JudgeNet,
    check_judge_applies,
)
from vaelab.evaluation.judge.storage import (
    FORMAT,
    JUDGE_NAME,
    RECORD_FILE,
    TRAIN_MINUTES_CPU,
    WEIGHTS_FILE,
    Judge,
    default_judge_dir,
    judge_summary,
    load_judge,
    save_judge,
)
from vaelab.evaluation.judge.training import (
    JudgeResult,
    accuracy,
    random_shift,
    train_and_save_judge,
    train_judge,
)

__all__ = [
    "BATCH_SIZE",
    "FEATURE_DIM",
    "FORMAT",
    "IMAGE_SHAPE",
    "JUDGE_DATASET",
    "JUDGE_NAME",
    "NUM_CLASSES",
    "RECORD_FILE",
    "TRAIN_MINUTES_CPU",
    "WEIGHTS_FILE",
    "Judge",
    "JudgeNet",
    "JudgeResult",
    "accuracy",
    "check_judge_applies",
    "default_judge_dir",
    "judge_summary",
    "load_judge",
    "random_shift",
    "save_judge",
    "train_and_save_judge",
    "train_judge",
]
