"""trainer.config: the flags made from its fields, and config.json read back strictly."""

import dataclasses
import json

import pytest
from absl import flags

from trainer import config as config_lib
from trainer import flag_fields
from trainer import networks

SHAPE = (4, 32, 32, 3)


def parsed(*argv) -> flags.FlagValues:
    """trainer.main's field flags, in a FlagValues of their own, after parsing argv."""
    flag_values = flags.FlagValues()
    flag_fields.define_flags(config_lib.Config, flag_values)
    flag_fields.define_flags(networks.ModelConfig, flag_values)
    flag_values(["trainer.main", *argv])
    return flag_values


def config_of(flag_values, preset="small") -> config_lib.Config:
    options = {**flag_fields.flag_values(config_lib.Config, flag_values),
               **flag_fields.flag_values(networks.ModelConfig, flag_values), "preset": preset}
    return config_lib.from_options(options, SHAPE)


def test_flag_defaults_are_the_fields_defaults():
    flag_values = parsed()
    fields = {f.name: f for f in dataclasses.fields(config_lib.Config)}
    for name in flag_fields.flag_names(config_lib.Config):
        expected = None if name in ("tfrecords", "model_dir") else fields[name].default
        assert flag_values[name].default == expected, name
        assert flag_values[name].help.endswith(fields[name].metadata["help"]), name
    assert flag_values["train_steps"].default == config_lib.Config.train_steps == 100_000
    # Not given, the model flags take the preset's values; the whole config is the plain one.
    assert config_of(flag_values) == config_lib.Config(model=config_lib.model_config("small"),
                                                       clip_shape=SHAPE)
    assert set(flag_fields.flag_names(config_lib.Config)).isdisjoint({"beta_1", "num_samples"})


def test_flags_given_make_the_config_they_say():
    config = config_of(parsed("--gen_channels=32,16,8,4", "--video_disc_pool=2", "--loss=hinge",
                              "--ema_decay=0.9", "--noreuse_fakes", "--train_steps=7"))
    assert config.model.gen_channels == (32, 16, 8, 4) and config.model.video_disc_pool == 2
    assert config.model.image_disc_channels == (16, 32, 64)  # the small preset's
    assert (config.loss, config.ema_decay, config.reuse_fakes, config.train_steps) == (
        "hinge", 0.9, False, 7)
    with pytest.raises(ValueError, match="--gen_channels=32,wide: give whole numbers"):
        config_of(parsed("--gen_channels=32,wide"))
    with pytest.raises(flags.IllegalFlagValueError, match="l2"):
        parsed("--loss=l2")  # enums keep their choices
    with pytest.raises(flags.IllegalFlagValueError, match="global"):
        parsed("--image_disc_logits=globl")


def test_unknown_config_keys_are_refused_naming_them_and_the_file(tmp_path):
    config = config_lib.Config(model=config_lib.model_config("small"), clip_shape=SHAPE,
                               model_dir=str(tmp_path))
    path = config_lib.save_config(config)
    assert config_lib.load_config(str(tmp_path)) == config
    saved = json.loads(config.to_json())
    for where, edit in (("", {"colour": 1, "lr": 2}), ("model", {"colour": 1})):
        data = json.loads(config.to_json())
        (data[where] if where else data).update(edit)
        with open(path, "w") as f:
            json.dump(data, f)
        with pytest.raises(config_lib.ConfigError, match="colour") as error:
            config_lib.load_config(str(tmp_path))
        assert path in str(error.value) and ("'lr'" in str(error.value)) == (not where)
    assert saved == json.loads(config.to_json())


def test_a_config_written_before_the_newer_fields_still_loads():
    config = config_lib.Config(model=config_lib.model_config("small"), clip_shape=SHAPE)
    data = json.loads(config.to_json())
    # The fields the first trainer.main did not have, in the run and in the model.
    for key in ("augment", "eval_every", "eval_videos", "best_metric", "d_learning_rate",
                "r1_every", "instance_noise", "ema_rampup", "skip_corrupt_shards"):
        del data[key]
    for key in ("image_disc_logits", "video_disc_pool", "gen_upsample", "gen_norm",
                "disc_minibatch_std", "conditioning"):
        del data["model"][key]
    assert config_lib.Config.from_json(json.dumps(data)) == config


def test_every_option_with_choices_refuses_a_value_outside_them():
    choice_fields = [field for field in dataclasses.fields(networks.ModelConfig)
                     if "choices" in field.metadata]
    assert len(choice_fields) >= 5
    base = config_lib.model_config("small")
    for field in choice_fields:
        with pytest.raises(ValueError, match=rf"ModelConfig\.{field.name}='nonsense': choose one of"):
            dataclasses.replace(base, **{field.name: "nonsense"})
    run = config_lib.Config(model=base, clip_shape=SHAPE)
    with pytest.raises(config_lib.ConfigError, match=r"Config\.strategy='nonsense'"):
        dataclasses.replace(run, strategy="nonsense")
