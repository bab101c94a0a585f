"""The training loop's evaluation (--eval_every): scalars for TensorBoard and the best checkpoint.

Real clips are read, and the feature network is loaded, on the first call only; the training loop
imports this module only in runs that evaluate.
"""

import numpy as np

from trainer.evaluation import real_clips, scoring
from trainer.evaluation.feature_networks import feature_extractor_for


def eval_generator(generator, config, real_videos, feature_extractor=None, seed: int = 0,
                   metric: str = "fd_shapes", shape_motion: bool = True) -> dict[str, float]:
    """What the training loop logs every --eval_every steps: as many generated videos as there are
    real ones (a batch of real clips, uint8 or [-1, 1]), scored by `training_scalars`."""
    real_videos = np.asarray(real_videos)
    generated = scoring.generate_videos(generator, config, len(real_videos), seed=seed)
    return scoring.training_scalars(generated, real_videos, feature_extractor, metric, shape_motion)



class TrainingEvaluator:
    """What the training loop holds to log metrics every --eval_every steps.

        evaluator = TrainingEvaluator(config.tfrecords, num_videos=64,
                                      feature_model_dir=os.path.join(config.model_dir, "feature_net"))
        for name, value in evaluator(generator, config).items():   # {"eval/fd_shapes": ..., ...}
            tf.summary.scalar(name, value, step=step)

    Real clips are read once, on the first call; the feature net is loaded, or trained once on
    those clips, then too. Without a feature_model_dir or i3d_model the scalars have no Fréchet
    distance; off Shape Motion data they have no shape scores.
    """

    def __init__(self, tfrecords: str, num_videos: int = 64, split: str = "train", seed: int = 0,
                 feature_model_dir: str = "", i3d_model: str = "", feature_train_steps: int = 300):
        self._args = (tfrecords, split, num_videos, seed)
        self._features = (i3d_model, feature_model_dir, feature_train_steps)
        self._real = None
        self._extractor = None
        self._metric = "fd_shapes"
        self._seed = seed
        self._shape_motion = True

    def __call__(self, generator, config) -> dict[str, float]:
        if self._real is None:
            self._real, _, pool = real_clips.load_real_clips(*self._args)
            self._shape_motion = real_clips.is_shape_motion(self._args[0], self._args[1])
            i3d_model, feature_model_dir, steps = self._features
            if i3d_model or (feature_model_dir and self._shape_motion):
                self._extractor, info = feature_extractor_for(i3d_model, feature_model_dir, pool, steps)
                self._metric = info["metric"]
        return eval_generator(generator, config, self._real, self._extractor, seed=self._seed,
                              metric=self._metric, shape_motion=self._shape_motion)

    @property
    def frechet_metric(self) -> str | None:
        """The scalar name of the Fréchet distance it reports (after the first call), or None
        when no feature network applies to the data."""
        return f"eval/{self._metric}" if self._extractor is not None else None

