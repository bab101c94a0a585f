"""How real and generated clips are chosen for a quality metric: the protocol, named and recorded.

FVD depends on the number of clips and on how the real ones were picked, so every figure carries
its protocol (in metrics.json, and beside every printed FVD):

    default     N = 256 real clips, one per video, the videos drawn at random from the split
                (train unless told), against N = 256 generated; real-against-real compares
                them with N clips of N other videos, picked the same way; 16 frames
    stylegan_v  StyleGAN-V's (Skorokhodov et al. 2022) FVD_2048 for comparing with papers on
                GPUs: 2048 real clips drawn at random across videos (as many videos as the split
                has, several clips of a video only when it has fewer than 2048), 2048 generated,
                16 frames

The pick depends only on the clips' names (video id, first frame) and the seed, never on the
order the shards hold the records in. TensorFlow-free, so that flags can be checked at once.
"""

import dataclasses

# How the real clips are picked; the value is how metrics.json and the console say it.
PICKS = {
    "one_per_video": "one clip per video, videos drawn at random",
    "across_videos": "clips drawn at random across videos, as many videos as possible",
}


@dataclasses.dataclass(frozen=True)
class Protocol:
    """N real and N generated clips of `num_frames` frames, the real ones picked by `pick` from
    `split` with `seed`; real-against-real takes N more from videos the first N do not hold."""

    name: str = "default"
    num_videos: int = 256
    num_frames: int = 16  # from each clip's start; fewer when the clips are shorter (recorded)
    split: str = "train"
    pick: str = "one_per_video"
    seed: int = 0
    exact_frames: bool = False  # refuse clips shorter than num_frames instead of using them whole

    def __post_init__(self):
        if self.num_videos < 2:
            raise ValueError(f"--num_videos={self.num_videos}: give 2 or more (a Fréchet distance "
                             f"fits a Gaussian to each set; the {self.name} protocol uses "
                             f"{PROTOCOLS[self.name].num_videos if self.name in PROTOCOLS else 256})")
        if self.pick not in PICKS:
            raise ValueError(f"pick={self.pick!r}: choose one of {', '.join(PICKS)}")

    def frames_for(self, clip_frames: int) -> int:
        """The frames each clip is scored on, given the shard set's clip length."""
        if clip_frames >= self.num_frames:
            return self.num_frames
        if self.exact_frames:
            raise ValueError(f"the {self.name} protocol scores clips of {self.num_frames} frames and "
                             f"this shard set's clips hold {clip_frames}; preprocess with "
                             f"--num_frames={self.num_frames} or choose --protocol=default")
        return clip_frames

    def record(self, num_real: int, num_generated: int, num_frames: int) -> dict:
        """What metrics.json says of how the clips were chosen."""
        return {"name": self.name, "num_real": num_real, "num_generated": num_generated,
                "num_reference": num_real, "num_frames": num_frames, "split": self.split,
                "pick": self.pick, "pick_rule": PICKS[self.pick], "seed": self.seed}


PROTOCOLS = {
    "default": Protocol(),
    "stylegan_v": Protocol(name="stylegan_v", num_videos=2048, pick="across_videos", exact_frames=True),
}


def named(name: str, num_videos: int | None = None, split: str | None = None, seed: int | None = None) -> Protocol:
    """The protocol `name`, with N, split or seed changed when given (the name is kept: the
    record says what changed)."""
    if name not in PROTOCOLS:
        raise ValueError(f"--protocol={name}: choose one of {', '.join(PROTOCOLS)}")
    changes = {key: value for key, value in (("num_videos", num_videos), ("split", split), ("seed", seed))
               if value is not None}
    return dataclasses.replace(PROTOCOLS[name], **changes)


def describe(record: dict, weights: str | None = None) -> str:
    """One line for the console: N of each side, the pick, the split and the weights."""
    line = (f"protocol {record['name']}: N = {record['num_real']} real ({record['pick_rule']}, split "
            f"{record['split']}, seed {record['seed']}) against N = {record['num_generated']} "
            f"generated; real against N = {record['num_reference']} clips of other real videos; "
            f"{record['num_frames']} frames")
    return line + (f"; I3D weights: {weights}" if weights else "")
