"""The scoring core: generated videos against real clips, arrays in and numbers out.

`Scorer` holds fixed real clips and the Gaussian fits of every network's features of them, once,
however many generators it scores (the report scores the untrained and the trained one); `evaluate_videos` is the one-call
form; `flat_scalars` is the form TensorBoard takes. Videos are [N, T, H, W, 3], uint8 or
float in [-1, 1].
"""

import numpy as np

from trainer.evaluation import frechet, shape_metrics


class Scorer:
    """Scores sets of generated videos against fixed real clips; the Gaussians of the real clips'
    features and of their reference's are fitted once, however many generators are scored.

    `networks` maps Fréchet metric names (fvd, fid, fd_shapes) to feature extractors ("videos ->
    features [N, D]"); `known` gives, for some of them, the Gaussians already fitted (a cache:
    real_stats.py), {name: {"real": (mean, cov), "reference": (mean, cov)}}, and their network
    then never sees a real clip. The shape scores are computed only with `shape_motion`. Videos
    are [N, T, H, W, 3], uint8 or float in [-1, 1]; generated ones are cut to the real clips'
    length.
    """

    def __init__(self, real: np.ndarray, reference: np.ndarray, networks: dict | None = None,
                 shape_motion: bool = True, known: dict | None = None):
        if min(len(real), len(reference)) < 2:
            raise ValueError(f"need at least 2 videos per set, got {len(real)} real and "
                             f"{len(reference)} reference")
        self.real, self.reference, self.shape_motion = real, reference, shape_motion
        self.networks = dict(networks or {})
        known = known or {}
        self.gaussians = {name: known.get(name) or {"real": frechet.fit_gaussian(net(real)),
                                                   "reference": frechet.fit_gaussian(net(reference))}
                          for name, net in self.networks.items()}

    def _scores(self, videos, against, gaussians: dict, against_side: str) -> dict:
        scores = shape_metrics.shape_scores(videos, against) if self.shape_motion else {}
        for name in self.networks:
            scores[name] = frechet.frechet_distance(*gaussians[name], *self.gaussians[name][against_side])
        return scores

    def real_scores(self) -> dict:
        """The real clips against the reference: what a perfect generator would score."""
        real_side = {name: g["real"] for name, g in self.gaussians.items()}
        return self._scores(self.real, self.reference, real_side, "reference")

    def __call__(self, generated: np.ndarray) -> dict:
        if len(generated) < 2:
            raise ValueError(f"need at least 2 videos per set, got {len(generated)} generated")
        generated = generated[:, :self.real.shape[1]]
        fitted = {name: frechet.fit_gaussian(net(generated)) for name, net in self.networks.items()}
        return self._scores(generated, self.real, fitted, "real")


def evaluate_videos(generated: np.ndarray, real: np.ndarray, reference: np.ndarray | None = None,
                    networks: dict | None = None, shape_motion: bool = True) -> dict:
    """Every applicable metric of `generated` against `real`, and of `real` against `reference`.

    Without `reference`, `real` is split in two halves: the first is compared with `generated`,
    the second is its reference. Returns {"generated": {metric: value}, "real": {metric: value},
    "num_generated", "num_real", "num_reference"}; a metric that cannot be computed on these
    videos (e.g. no blob at all) is None.
    """
    if reference is None:
        half = len(real) // 2
        real, reference = real[:half], real[half:]
    scorer = Scorer(real, reference, networks, shape_motion)
    return {"generated": scorer(generated), "real": scorer.real_scores(), "num_generated": len(generated),
            "num_real": len(real), "num_reference": len(reference)}


def flat_scalars(scores: dict) -> dict[str, float]:
    """Scores as TensorBoard takes them: eval/<metric> floats, the None ones left out."""
    return {f"eval/{key}": float(value) for key, value in scores.items() if value is not None}


def generate_videos(generator, config, num_videos: int, seed: int = 0, batch_size: int = 32):
    """uint8 [N, T, H, W, 3] from the generator, in batches (conditional models cycle classes)."""
    from trainer.generation import sample  # the training loop imports this module; keep its imports light

    batches = []
    for start in range(0, num_videos, batch_size):
        count = min(batch_size, num_videos - start)
        batches.append(sample.generate(generator, config, count, seed=seed + start))
    return np.concatenate(batches)

