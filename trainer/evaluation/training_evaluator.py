"""The training loop's evaluation (--eval_every): scalars for TensorBoard and the best checkpoint.

FVD by default, under the default protocol (trainer/evaluation/protocol.py) at N = --eval_videos:
one real clip per video, drawn at random from the train split. Real clips are read, the network
loaded and the real side's I3D statistics taken from <model_dir>/fvd_real_stats (or computed and
kept there) on the first call only; every call after runs I3D on the generated clips alone. The
training loop imports this module only in runs that evaluate.
"""

from absl import logging

from trainer.evaluation import metric_plan, pretrained, real_clips, real_stats, scoring
from trainer.evaluation.feature_networks import NetworkOptions, load_fvd_network, load_networks
from trainer.evaluation.protocol import Protocol


class TrainingEvaluator:
    """What the training loop holds to log metrics every --eval_every steps.

        evaluator = TrainingEvaluator(config.tfrecords, config.model_dir, num_videos=64)
        for name, value in evaluator(generator, config).items():   # {"eval/fvd": ..., ...}
            tf.summary.scalar(name, value, step=step)

    `metric` is the Fréchet distance: fvd (I3D: --i3d_model, the cache or the package index), or
    fd_shapes (the Shape Motion feature net, trained once into feature_model_dir; Shape Motion data
    only). When it cannot be had the scalars go without it, with a warning that says why; off
    Shape Motion data they have no shape scores.
    """

    def __init__(self, tfrecords: str, model_dir: str = "", num_videos: int = 64, split: str = "train",
                 seed: int = 0, metric: str = "fvd", i3d_model: str = "", feature_model_dir: str = "",
                 feature_train_steps: int = 300):
        self.tfrecords, self.model_dir, self.metric = tfrecords, model_dir, metric
        self.protocol = Protocol(num_videos=num_videos, split=split, seed=seed)
        self._networks = (i3d_model, feature_model_dir, feature_train_steps)
        self._scorer = None
        self._seed = seed

    def _networks_for(self, clips: real_clips.RealClips, shape_motion: bool) -> tuple[dict, dict]:
        i3d_model, feature_model_dir, steps = self._networks
        if self.metric == "fd_shapes":
            plan = metric_plan.plan(("fd_shapes",), shape_motion)
            networks, info, plan = load_networks(plan, NetworkOptions(feature_model_dir=feature_model_dir,
                                                                      feature_train_steps=steps), clips.pool)
            for reason in plan.left_out.values():
                logging.warning("eval: no fd_shapes: %s", reason)
            return networks, info
        from trainer.evaluation import i3d

        if clips.num_frames < i3d.MIN_FRAMES:
            logging.warning("eval: no fvd: clips of %d frames, I3D needs %d or more", clips.num_frames,
                            i3d.MIN_FRAMES)
            return {}, {}
        try:
            network, info = load_fvd_network(i3d_model)
        except pretrained.Unavailable as error:
            logging.warning("eval: no fvd: %s", error)
            return {}, {}
        return {"fvd": network}, {"fvd": info}

    def _prepare(self):
        clips = real_clips.load_real_clips(self.tfrecords, self.protocol)
        shape_motion = clips.shards.manifest.is_shape_motion
        networks, info = self._networks_for(clips, shape_motion)
        self.record = self.protocol.record(len(clips.real), len(clips.real), clips.num_frames)
        self._scorer, stats = real_stats.scorer_with_cache(clips, networks, info, shape_motion,
                                                           self.model_dir, self.record)
        real = {k: v for k, v in self._scorer.real_scores().items() if k in networks}
        if real:
            logging.info("eval: real against other real videos at N = %d: %s%s", len(clips.real),
                         "  ".join(f"{k} {v:.3f}" for k, v in real.items()),
                         f" (real statistics {'reused' if stats['reused'] else 'kept'} in {stats['path']})"
                         if stats else "")

    def __call__(self, generator, config) -> dict[str, float]:
        if self._scorer is None:
            self._prepare()
        real = self._scorer.real
        generated = scoring.generate_videos(generator, config, len(real), seed=self._seed)
        return scoring.flat_scalars(self._scorer(generated))

    @property
    def num_videos(self) -> int | None:
        """N of each side (after the first call): what every logged Fréchet distance depends on."""
        return len(self._scorer.real) if self._scorer is not None else None

    @property
    def frechet_metric(self) -> str | None:
        """The scalar name of the Fréchet distance it reports (after the first call), or None
        when its network cannot be had or does not apply to the data."""
        return f"eval/{self.metric}" if self._scorer is not None and self._scorer.networks else None
