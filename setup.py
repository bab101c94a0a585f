"""Installs the `pipeline` and `trainer` packages.

This is also what Dataflow workers install through `--setup_file ./setup.py`: the imageio-ffmpeg
dependency carries an ffmpeg binary inside its wheel, so workers get ffmpeg with no extra step.
"""

import setuptools

VERSION = "0.1.0"

setuptools.setup(
    name="mocogan-video-stack",
    version=VERSION,
    description="Apache Beam preprocessing of video collections and a distributed MoCoGAN trainer",
    packages=setuptools.find_packages(include=["pipeline", "pipeline.*", "trainer", "trainer.*"]),
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.18",
        "apache-beam>=2.60",
        "ffmpeg-python>=0.2",
        "imageio-ffmpeg>=0.5",
        "numpy>=1.26",
        "absl-py>=2.0",
        "filelock>=4.3",  # the retrain, model-dir and output locks (pipeline/run_lock.py)
        "pillow>=10",  # text labels on contact sheets
        "scipy>=1.10",  # connected components, erosion and W1 of the Shape Motion metrics
        "tensorboard>=2.18",  # to view the training summaries; TensorFlow no longer pulls it in
        "tensorflow-hub>=0.16",  # I3D for FVD, as TensorFlow users get it (trainer/evaluation/pretrained.py)
    ],
    extras_require={
        # The suite runs the job on a Dask cluster and builds it for Dataflow, so it needs both.
        "test": ["pytest>=8", "pytest-xdist>=3", "build>=1.0", "dask[distributed]>=2024.1", "apache-beam[gcp]"],
        # gs:// through Beam and the DataflowRunner (Dataflow's workers already have it).
        "gcp": ["apache-beam[gcp]"],
        # --runner=DaskRunner on a dask.distributed cluster.
        "dask": ["dask[distributed]>=2024.1"],
    },
)
