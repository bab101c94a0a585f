"""Every probe behind the demo's recipe names real trainer options, and its command line says
exactly the values the probe table claims."""

from absl import flags

from trainer import config as config_lib, flag_fields, models
from trainer.configs import demo_probes, recipe


def _trainer_flags() -> flags.FlagValues:
    values = flags.FlagValues()
    flag_fields.define_flags(config_lib.Config, values)
    flag_fields.define_flags(models.ModelConfig, values)
    flags.DEFINE_enum("preset", "mocogan", list(models.PRESETS), "", flag_values=values)
    return values


def test_every_probe_parses_to_its_own_values():
    for name, probe in demo_probes.PROBES.items():
        values = {**demo_probes.BASE, **probe}
        parsed = _trainer_flags()
        parsed(["trainer.main", *demo_probes.flag_args(values)])  # an unknown flag raises here
        for option, value in values.items():
            got = parsed[option].value
            got = tuple(int(v) for v in got) if isinstance(value, tuple) else got
            assert got == value, (name, option, got, value)


def test_the_recipe_probe_is_the_demo_recipe():
    assert demo_probes.PROBES["recipe"] == {k: v for k, v in recipe("demo").items()
                                            if k != "more_steps"}
    # The earlier recipes, which the recipe_* and today_* rows of BUILD.md add to: the eighth
    # to tenth sessions' is the third with one colour per video under a mask over black (soft
    # in training, 0/1 when sampling) and the GRU's noise at the first frame only; today's adds
    # the eleventh session's sprite, projection conditioning and mask penalty to it, and its
    # probe ran from seed 1; the second is the third without the content-set batch norm.
    assert {**demo_probes.THIRD_RECIPE, "gen_appearance": "black", "gen_mask": "hard_at_sampling",
            "motion_noise": "first_frame"} == demo_probes.TENTH_RECIPE
    assert demo_probes.PROBES["today_black_sampled_first"] == demo_probes.TENTH_RECIPE
    chosen = dict(demo_probes.PROBES["today_sprite_projection_mask_10_r22_seed1"])
    assert chosen.pop("seed") == 1 and chosen == demo_probes.ELEVENTH_RECIPE
    # The seventeenth session's recipe is its probe less the frame generator's options, which an
    # outlined sprite does not use; the eighteenth's is its direct probe, and today's the
    # nineteenth session's track head on that, with its own loss.
    outlined = dict(demo_probes.PROBES["today_superellipse_adc_constant_disc"])
    unused = {name: outlined.pop(name) for name in ("gen_channels", "gen_upsample", "gen_norm")}
    assert outlined == demo_probes.SEVENTEENTH_RECIPE and unused["gen_channels"] == (256, 128, 64, 32)
    assert demo_probes.PROBES["today_direct"] == demo_probes.EIGHTEENTH_RECIPE
    assert demo_probes.PROBES["today_direct_track_own"] == demo_probes.NINETEENTH_RECIPE
    assert demo_probes.PROBES["today_quadrant_hard"] == demo_probes.RECIPE
    assert {**demo_probes.SECOND_RECIPE, "gen_norm": "content"} == demo_probes.THIRD_RECIPE
    assert demo_probes.flag_args({"disc_batch_norm": False, "gen_channels": (8, 4)}) == [
        "--nodisc_batch_norm", "--gen_channels=8,4"]
