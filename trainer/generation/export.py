"""Exports a trained generator as a self-contained SavedModel.

    python -m trainer.generation.export --model_dir=runs/ucf101 --export_dir=exports/ucf101

Loading needs TensorFlow only, not this project:

    model = tf.saved_model.load("exports/ucf101")
    videos = model.generate(num_videos=4, seed=0)           # uint8 [4, T, H, W, 3]
    videos = model.generate(num_videos=4, seed=0, label=2)  # conditional models; label -1: random
    model.signatures["serving_default"](num_videos=..., seed=...)["videos"]   # the same, for serving
    names = model.class_names()                              # class names of a conditional model

The same seed (and label) gives the same videos. The EMA generator is exported when the run kept
one (--no_ema: the trained one). The export is written beside export_dir and renamed into place;
--overwrite replaces only a folder that already holds a SavedModel (or an empty one), never a
folder of anything else, and the old export stays until the new one is complete.
"""

from pipeline import tf_startup  # noqa: F401  (first: TensorFlow without the CUDA probe's noise)
import os
import sys

from absl import app
from absl import flags
import tensorflow as tf

from pipeline import files
from trainer import config as config_lib
from trainer import pixels
from trainer.generation import restore

SAVED_MODEL_FILE = "saved_model.pb"  # what every SavedModel folder holds


def define_flags():
    """Called only when run as a program, so importing this module defines no flags."""
    flags.DEFINE_string("model_dir", None, "Model directory written by trainer.main.")
    flags.DEFINE_string("export_dir", None, "Where to write the SavedModel.")
    flags.DEFINE_bool("ema", True, "Export the EMA generator when the checkpoint has one.")
    flags.DEFINE_bool("overwrite", False, "Replace an existing export_dir.")
    flags.DEFINE_string("checkpoint", "latest", "latest, best (kept by training with "
                        "--eval_every) or a checkpoint path.")


class VideoGeneratorModule(tf.Module):
    """What the SavedModel holds: the generator's variables and three functions.

    generate(num_videos, seed[, label]) -> uint8 [N, T, H, W, 3]; serve: the same as a dict
    {"videos": ...} (the serving signature); class_names() -> string [K] (empty: unconditional).
    """

    def __init__(self, generator, class_names=()):
        super().__init__(name="video_generator")
        self.generator = generator
        self.names = tf.constant(list(class_names), tf.string, shape=[len(class_names)])
        spec = [tf.TensorSpec([], tf.int32, "num_videos"), tf.TensorSpec([], tf.int64, "seed")]
        if class_names:
            spec.append(tf.TensorSpec([], tf.int32, "label"))

            def generate(num_videos, seed, label):
                return self.videos(num_videos, seed, label)
        else:
            def generate(num_videos, seed):
                return self.videos(num_videos, seed)

        self.generate = tf.function(generate, input_signature=spec)
        self.serve = tf.function(lambda *args: {"videos": generate(*args)}, input_signature=spec)

    def videos(self, num_videos, seed, label=None):
        latents = self.generator.sample_latents(num_videos, seed=tf.cast(seed, tf.int64))
        if label is not None:  # -1 keeps the random labels drawn from the seed
            tf.debugging.assert_less(label, tf.size(self.names), "label >= number of classes")
            latents["labels"] = tf.where(label >= 0, tf.fill([num_videos], label), latents["labels"])
        videos = self.generator(latents, training=False)
        return pixels.tensor_to_uint8(videos)

    @tf.function(input_signature=[])
    def class_names(self):
        return tf.identity(self.names)


def export(model_dir: str, export_dir: str, prefer_ema: bool = True, overwrite: bool = False,
           checkpoint: str = "latest") -> str:
    """Writes the SavedModel of model_dir's generator (the latest checkpoint's, or `checkpoint`'s:
    "best" or a path) to export_dir; returns export_dir."""
    export_dir = export_dir.rstrip("/")
    check_export_dir(export_dir, overwrite)
    generator, config = restore.load_generator(model_dir, prefer_ema=prefer_ema,
                                               checkpoint=checkpoint)
    module = VideoGeneratorModule(generator, config.class_names if config.conditional else ())

    if files.is_remote(export_dir):  # object stores cannot rename folders: written in place
        if tf.io.gfile.exists(export_dir):
            tf.io.gfile.rmtree(export_dir)
        _save(module, model_dir, export_dir)
    else:
        with files.atomic_path(export_dir) as target:
            _save(module, model_dir, target)
    return export_dir


def check_export_dir(export_dir: str, overwrite: bool) -> None:
    """Refuses an export_dir that --overwrite may not replace: a file, or a folder that holds
    something other than a SavedModel (a folder of videos must never be deleted by an export)."""
    if not tf.io.gfile.exists(export_dir):
        return
    if not tf.io.gfile.isdir(export_dir):
        raise ValueError(f"--export_dir={export_dir} is a file, not a folder: choose a folder path "
                         "for the SavedModel (it is created)")
    if not overwrite:
        raise ValueError(f"{export_dir} exists: choose another --export_dir or pass --overwrite")
    contents = tf.io.gfile.listdir(export_dir)
    if contents and not tf.io.gfile.exists(os.path.join(export_dir, SAVED_MODEL_FILE)):
        raise ValueError(
            f"--overwrite refuses {export_dir}: it holds {len(contents)} entries (e.g. "
            f"{sorted(contents)[0]}) and no {SAVED_MODEL_FILE}, so it is not an export; it was left "
            "as it is. Choose another --export_dir, or an earlier export's folder to replace it.")


def _save(module: VideoGeneratorModule, model_dir: str, target: str) -> None:
    """The SavedModel, with the run's config.json in assets.extra for the record."""
    tf.saved_model.save(module, target, signatures={"serving_default": module.serve})
    tf.io.gfile.makedirs(os.path.join(target, "assets.extra"))
    tf.io.gfile.copy(config_lib.config_path(model_dir),
                     os.path.join(target, "assets.extra", config_lib.CONFIG_NAME), overwrite=True)


def main(argv):
    del argv
    try:
        f = flags.FLAGS
        path = export(f.model_dir, f.export_dir, f.ema, f.overwrite, f.checkpoint)
    except (ValueError, restore.RestoreError) as error:
        sys.exit(f"error: {error}")
    print(f"exported {path}")


if __name__ == "__main__":
    define_flags()
    flags.mark_flags_as_required(["model_dir", "export_dir"])
    app.run(main)
