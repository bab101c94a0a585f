"""The network behind each Fréchet distance, loaded for the metrics a plan computes.

    fvd        I3D (trainer/evaluation/i3d.py, or a SavedModel through frechet.py), from
               trainer/evaluation/pretrained.py
    fid        Inception-v3 on single frames (trainer/evaluation/inception.py), from trainer/evaluation/pretrained.py
    fd_shapes  the Shape Motion feature net (trainer/evaluation/feature_net.py), cached or trained once

A network that cannot be had (offline, no local copy) takes its metric out of the plan with the
reason, so the other metrics are still computed.
"""

import dataclasses

import numpy as np

from trainer.evaluation import feature_net, frechet, metric_plan, pretrained


@dataclasses.dataclass(frozen=True)
class NetworkOptions:
    """Where each Fréchet distance's network comes from."""

    i3d_model: str = ""  # a local SavedModel folder or converted .npz; default: cached or fetched
    inception_weights: str = ""  # a local .keras model or .h5 weights; default: cached or downloaded
    fid_frames_per_video: int = 4
    feature_model_dir: str = ""  # the Shape Motion feature net's cache
    feature_train_steps: int = 300


def load_fvd_network(i3d_model: str = "", batch_size: int = 8) -> tuple[object, dict]:
    """FVD's network, videos (uint8 or [-1, 1]) -> float64 logits [N, 400], and what it is: a
    SavedModel (--i3d_model=DIR or TF Hub's cached copy) or the project's I3D with the package
    index's weights (pretrained.i3d_source says which)."""
    kind, path = pretrained.i3d_source(i3d_model)
    if kind == "saved_model":
        return frechet.I3DFeatures(path, batch_size), {"model": path}
    from trainer.evaluation import i3d, i3d_weights

    return i3d.I3D(i3d_weights.load_arrays(path), batch_size), {"model": path, "weights": i3d_weights.ORIGIN}


def _load_fvd(options: NetworkOptions, clips):
    return load_fvd_network(options.i3d_model)


def _load_fid(options: NetworkOptions, clips):
    from trainer.evaluation import inception  # Keras' InceptionV3 only when FID is wanted

    path = pretrained.inception_path(options.inception_weights)
    frames = options.fid_frames_per_video
    return inception.InceptionFrameFeatures(path, frames), {"model": path, "frames_per_video": frames}


def _load_fd_shapes(options: NetworkOptions, clips):
    if not options.feature_model_dir:
        raise ValueError("fd_shapes needs a --feature_model_dir to cache the Shape Motion feature net in")
    extractor, info = feature_net.load_or_train(options.feature_model_dir, clips, steps=options.feature_train_steps)
    return extractor, dict(info, feature_model_dir=options.feature_model_dir)


LOADERS = {"fvd": _load_fvd, "fid": _load_fid, "fd_shapes": _load_fd_shapes}


def load_networks(plan: metric_plan.Plan, options: NetworkOptions,
                  training_clips: np.ndarray | None) -> tuple[dict, dict, metric_plan.Plan]:
    """(extractors, what each is, the plan without the metrics whose network cannot be had)."""
    networks, info = {}, {}
    for metric in metric_plan.FRECHET_NETWORKS:
        if metric not in plan.compute:
            continue
        try:
            networks[metric], details = LOADERS[metric](options, training_clips)
        except pretrained.Unavailable as error:
            plan = plan.without(metric, str(error))
            continue
        info[metric] = dict(details, network=metric_plan.FRECHET_NETWORKS[metric])
    return networks, info, plan

