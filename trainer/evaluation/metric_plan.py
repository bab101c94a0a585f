"""Which quality metrics apply to a shard set, and which the user asked for; TensorFlow-free, so
that `trainer.retraining.retrain` can check its --metric before anything runs.

Three Fréchet distances, each named by the network whose features it compares:

    fvd        I3D (Kinetics-400) logits of clips: the standard FVD, on any data
    fid        Inception-v3 (ImageNet) pool features of single frames, on any data
    fd_shapes  the project's Shape Motion feature net (trainer/evaluation/feature_net.py), on Shape Motion only

and the Shape Motion scores (trainer/evaluation/shape_metrics.py), which assume one shape on black and so
apply only to sets whose manifest says the built-in generator made them.
"""

import dataclasses

FRECHET_NETWORKS = {
    "fvd": "I3D (Kinetics-400) logits, deepmind/i3d-kinetics-400",
    "fid": "Inception-v3 (ImageNet) average-pool features of single frames",
    "fd_shapes": "the project's Shape Motion feature net (trainer/evaluation/feature_net.py)",
}
SHAPE_SCORES = ("acd", "acd_excluded_fraction", "single_blob_fraction", "area_distance",
                "motion_deviation", "motion_valid_fraction", "mean_speed")
ALL = ("fvd", "fid", "fd_shapes") + SHAPE_SCORES
SHAPE_MOTION_ONLY = frozenset(("fd_shapes",) + SHAPE_SCORES)
NOT_SHAPE_MOTION = ("left out: this is not Shape Motion data (its manifest does not say "
                    "pipeline.datasets.shapes made it), and these scores assume one shape on black")


# What evaluate, the report and retraining compute unless told: the one yardstick that means the
# same on every machine (fd_shapes, the project's own net, differs between machines).
DEFAULT = ("fvd",)
# Names for several metrics at once in --metrics.
GROUPS = {"shape_motion": ("fd_shapes",) + SHAPE_SCORES, "diagnostics": SHAPE_SCORES}


def parse(text: str) -> tuple[str, ...]:
    """--metrics: "all" (every metric that applies) -> (), else the names asked for, checked;
    "shape_motion" stands for fd_shapes and every shape score (no network to download),
    "diagnostics" for the shape scores alone."""
    if text.strip() in ("", "all"):
        return ()
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    names = tuple(m for name in names for m in GROUPS.get(name, (name,)))
    unknown = [name for name in names if name not in ALL]
    if unknown:
        raise ValueError(f"unknown metric(s) {', '.join(unknown)} in --metrics; choose from "
                         f"{', '.join(ALL)}, {', '.join(GROUPS)} or 'all'")
    return names


@dataclasses.dataclass(frozen=True)
class Plan:
    """The metrics to compute, those left out with the reason, and those asked for by name."""

    compute: tuple[str, ...]
    left_out: dict[str, str]
    requested: tuple[str, ...] = ()

    def without(self, metric: str, reason: str) -> "Plan":
        """The plan once `metric` turned out not to be computable (its network is missing)."""
        return dataclasses.replace(self, compute=tuple(m for m in self.compute if m != metric),
                                   left_out={**self.left_out, metric: reason})

    def failed_requests(self) -> dict[str, str]:
        """Metrics the user named that cannot be computed: what makes trainer.evaluation.evaluate fail."""
        return {m: self.left_out[m] for m in self.requested if m in self.left_out}


def plan(requested: tuple[str, ...], shape_motion: bool) -> Plan:
    """What applies to the data: everything on Shape Motion, fvd and fid elsewhere."""
    wanted = requested or ALL
    left_out = {m: NOT_SHAPE_MOTION for m in wanted if m in SHAPE_MOTION_ONLY and not shape_motion}
    return Plan(tuple(m for m in wanted if m not in left_out), left_out, requested)


def why_undefined(metric: str, shape_motion: bool) -> str | None:
    """Why `metric` is undefined on this data before any network is looked for, else None."""
    if metric not in ALL:
        return f"--metric={metric} is not a metric of trainer.evaluation.evaluate; choose from {', '.join(ALL)}"
    if metric in SHAPE_MOTION_ONLY and not shape_motion:
        return (f"--metric={metric} applies only to Shape Motion data and this data is not; choose "
                "--metric=fvd (standard FVD, needs I3D) or --metric=fid (needs Inception-v3)")
    return None
