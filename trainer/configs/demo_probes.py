"""Probes behind the demo recipe: each variant trained from the same shards and scored.

    python -m trainer.configs.demo_probes --tfrecords=demo/shards --out=probes --steps=4000 \
        --probes=recipe,recipe_noise,recipe_di_r1_1

trains every named probe into <out>/<name> (BASE, the demo recipe before the probes, with the
probe's flags on top, for --steps steps; those named recipe_* start from the second session's
recipe, today_* from the third's or, from the ninth session on, from the eighth to tenth
sessions' (TENTH_RECIPE) or, from the twelfth on, the eleventh's (ELEVENTH_RECIPE), and
`recipe` is today's),
runs `trainer.evaluation.report` on it (the Shape Motion metrics of 128 generated videos against
128 real clips, one feature net shared by all probes) and writes a row per probe of this run to
<out>/probes.md (and probes.jsonl): setting, steps, training minutes and the report's metrics.
About 10 minutes a probe at 4,000 steps on a 2-core machine left to itself. Probes run one after
another, so on a shared machine their minutes compare only roughly; the metrics do not depend on
the machine.
"""

from pipeline import tf_startup  # noqa: F401  (first: TensorFlow without the CUDA probe's noise)
import json
import os
import subprocess
import sys
import time

import tensorflow as tf
from absl import app
from absl import flags

from trainer.configs import recipe

# The demo recipe before these probes (batch 8, R1 on every step, D_V at full resolution).
BASE = dict(preset="small", batch_size=8, image_batch_size=16, learning_rate=5e-4, r1_gamma=10.0,
            ema_decay=0.99, checkpoint_every=500, summary_every=50, sample_every=500)
# Today's demo recipe as flags (its step count is the probe run's --steps).
RECIPE = {k: v for k, v in recipe("demo").items() if k != "more_steps"}
# The second session's recipe, which the probes named recipe_* (but `recipe`) add to.
SECOND_RECIPE = dict(BASE, image_batch_size=64, r1_every=16, video_disc_pool=2,
                     gen_upsample="resize", summary_every=100)
# The third session's recipe (the content-set batch norm on top), which the today_* probes add to.
THIRD_RECIPE = dict(SECOND_RECIPE, gen_norm="content")
# The recipe of the eighth to tenth sessions, which the ninth to eleventh sessions' probes add to.
TENTH_RECIPE = dict(THIRD_RECIPE, gen_appearance="black", gen_mask="hard_at_sampling",
                    motion_noise="first_frame", ema_decay=0.99)
# The recipe of the eleventh to sixteenth sessions (a painted sprite, projection conditioning,
# the mask penalty), which their today_* probes add to.
ELEVENTH_RECIPE = dict(TENTH_RECIPE, gen_motion="translate", sprite_radius=0.22,
                       gen_channels=(256, 128, 64, 32), conditional=True,
                       conditioning="projection", mask_penalty=10.0)
# The seventeenth session's probes: a superellipse sprite on a constant-velocity path that
# bounces (one velocity a video: straight tracks between bounces), with and without ADC.
STRAIGHT = dict(ELEVENTH_RECIPE, sprite_shape="superellipse", motion_path="constant_velocity")
STRAIGHT_ADC = dict(STRAIGHT, image_class_head="adc")
# The seventeenth session's recipe (its disc-started ADC probe less the frame generator's
# options, which an outline does not use), which the eighteenth session's probes add to.
SEVENTEENTH_RECIPE = {k: v for k, v in dict(STRAIGHT_ADC, sprite_start_exponent=3.0).items()
                      if k not in ("gen_channels", "gen_upsample", "gen_norm")}
# The eighteenth session's recipe (the direct shape code), which the nineteenth's probes add to.
EIGHTEENTH_RECIPE = dict(SEVENTEENTH_RECIPE, sprite_code="direct")
# The nineteenth session's recipe (a track head with its own loss), which the twentieth's add to.
NINETEENTH_RECIPE = dict(EIGHTEENTH_RECIPE, track_head_units=64)
# Each probe: flag values over BASE. The names say what changes.
PROBES = {
    "baseline": {},
    "recipe": RECIPE,
    "second_recipe": SECOND_RECIPE,
    "pool2": dict(video_disc_pool=2),
    "pool2_r1lazy": dict(video_disc_pool=2, r1_every=16),
    "pool2_r1lazy_g01": dict(video_disc_pool=2, r1_every=16, r1_gamma=0.1),
    "pool2_r1lazy_g1": dict(video_disc_pool=2, r1_every=16, r1_gamma=1.0),
    "pool2_global": dict(video_disc_pool=2, r1_every=16, image_disc_logits="global"),
    "pool2_noise": dict(video_disc_pool=2, r1_every=16, instance_noise=0.1,
                        instance_noise_steps=1500),
    "pool2_ttur": dict(video_disc_pool=2, r1_every=16, learning_rate=2e-4, d_learning_rate=4e-4),
    "pool2_warmup": dict(video_disc_pool=2, r1_every=16, image_warmup_steps=500),
    "pool2_nobn": dict(video_disc_pool=2, r1_every=16, disc_batch_norm=False),
    "pool2_ema_hl": dict(video_disc_pool=2, r1_every=16, ema_decay=0.0,
                         ema_half_life_videos=5000, ema_rampup=0.05),
    "ib64_g1_global": dict(video_disc_pool=2, r1_every=16, r1_gamma=1.0, image_batch_size=64,
                           image_disc_logits="global"),
    "ib64_g01": dict(video_disc_pool=2, r1_every=16, r1_gamma=0.1, image_batch_size=64),
    "ib64_g1": dict(video_disc_pool=2, r1_every=16, r1_gamma=1.0, image_batch_size=64),
    "ib64_g1_wide": dict(video_disc_pool=2, r1_every=16, r1_gamma=1.0, image_batch_size=64,
                         gen_channels=(128, 64, 32, 16)),
    "ib64_g1_global_lr2": dict(video_disc_pool=2, r1_every=16, r1_gamma=1.0, image_batch_size=64,
                               image_disc_logits="global", learning_rate=2e-4),
    "ib64": dict(video_disc_pool=2, r1_every=16, image_batch_size=64),
    "ib64_warmup_global": dict(video_disc_pool=2, r1_every=16, image_batch_size=64,
                               image_warmup_steps=750, image_disc_logits="global"),
    "ib64_wide": dict(video_disc_pool=2, r1_every=16, image_batch_size=64,
                      gen_channels=(128, 64, 32, 16)),
    "ib64_r1every1": dict(video_disc_pool=2, r1_every=1, image_batch_size=64),
    "ib64_r1every4": dict(video_disc_pool=2, r1_every=4, image_batch_size=64),
    "ib64_r1every4_aug": dict(video_disc_pool=2, r1_every=4, image_batch_size=64,
                              augment="translation"),
    "ib64_aug": dict(video_disc_pool=2, r1_every=16, image_batch_size=64, augment="translation"),
    "recipe_resize": {**SECOND_RECIPE},
    # Levers on top of today's recipe.
    "recipe_nobn": {**SECOND_RECIPE, "disc_batch_norm": False},
    "recipe_noise": {**SECOND_RECIPE, "instance_noise": 0.1, "instance_noise_steps": 2000},
    "recipe_ttur": {**SECOND_RECIPE, "learning_rate": 2.5e-4, "d_learning_rate": 5e-4},
    "recipe_ema_hl": {**SECOND_RECIPE, "ema_decay": 0.0, "ema_half_life_videos": 5000, "ema_rampup": 0.05},
    "recipe_wide": {**SECOND_RECIPE, "gen_channels": (128, 64, 32, 16)},
    # D_I's loss sits at ln 4 (chance) from step ~800 in the recipe: R1 at 10 on its 64-frame
    # batch may flatten it (StyleGAN2-ADA's heuristic, 2e-4 * 64**2 / 64, gives 0.013).
    "recipe_di_r1_1": {**SECOND_RECIPE, "r1_gamma_image": 1.0},
    "recipe_di_r1_01": {**SECOND_RECIPE, "r1_gamma_image": 0.1},
    # Or D_I is too narrow to tell a clean frame from a flawed one: twice its widths.
    "recipe_wide_di": {**SECOND_RECIPE, "image_disc_channels": (32, 64, 128)},
    # With R1 on each example's mean logit (D_I alive again), the blobs hold two or three
    # colours at once: the content code sets each batch norm's scale and shift instead.
    "recipe_content_norm": {**SECOND_RECIPE, "gen_norm": "content"},
    "recipe_wide_content_norm": {**SECOND_RECIPE, "gen_channels": (128, 64, 32, 16),
                                 "gen_norm": "content"},
    # On top of today's recipe: instance noise again, now that D_I learns.
    "today_noise": {**THIRD_RECIPE, "instance_noise": 0.1, "instance_noise_steps": 2000},
    # Half the annealing, so that the noise's draw (skipped once sigma is 0) costs half as long.
    "today_noise_1000": {**THIRD_RECIPE, "instance_noise": 0.1, "instance_noise_steps": 1000},
    # The blob's colour drifts over a clip, which only D_V can see: R1 at 10 may smooth D_V too
    # much to see it (StyleGAN2-ADA's heuristic, 2e-4 * 64**2 / 8, gives 0.1). D_I keeps 10.
    "today_dv_r1_1": {**THIRD_RECIPE, "r1_gamma": 1.0, "r1_gamma_image": 10.0},
    # While it lasts, instance noise makes a demo step 1.25x as long: a quarter as long again.
    "today_noise_500": {**THIRD_RECIPE, "instance_noise": 0.1, "instance_noise_steps": 500},
    # Fifth session. A blob's colour follows its position (R^2 0.78 on the recipe's videos):
    # the colour is painted per frame. Here a mask per frame reveals an appearance image that the
    # content code renders once per video.
    "today_appearance": {**THIRD_RECIPE, "gen_appearance": "image"},
    # The image's colour varied across it, and the blobs changed colour as they crossed it
    # (ACD 41): one colour per video.
    "today_appearance_colour": {**THIRD_RECIPE, "gen_appearance": "colour"},
    # Sixth session. The colour layer's mask stayed at 0 in a fresh-clone run: the frame
    # generator painted the blobs itself. (Two colours per video with the frame generator drawing
    # the mask alone, `flat`, lost: fd_shapes 285, single blob 0.05; removed.) Here the frame
    # generator draws a mask and grey pixels, and colour comes through the mask alone.
    "today_grey": {**THIRD_RECIPE, "gen_appearance": "grey"},
    "today_grey_mask_1": {**THIRD_RECIPE, "gen_appearance": "grey", "mask_penalty": 1.0},
    # At weight 1 the penalty's term sat near 0.008 and the mask did not sharpen: ten times that.
    "today_grey_mask_10": {**THIRD_RECIPE, "gen_appearance": "grey", "mask_penalty": 10.0},
    # Seventh session. Inside the blobs the soft mask averaged 0.76-0.94, so F's grey, which
    # moves, shows through and the colour drifts (ACD 8-12). A hard mask shows A alone there.
    "today_grey_hard": {**THIRD_RECIPE, "gen_appearance": "grey", "gen_mask": "hard"},
    # A fresh clone of the hard mask drew specks of its colour all over the background (single
    # blob 0.062): background pixels whose mask hovers near 0.5 flip to the full colour. The
    # penalty's gradient on a hard mask pushes every pixel's sigmoid away from 0.5, to its side.
    "today_grey_hard_mask_10": {**THIRD_RECIPE, "gen_appearance": "grey", "gen_mask": "hard",
                                "mask_penalty": 10.0},
    # It did not: the masks shrank and the grey frame painted the blobs' pale parts (ACD 30.4).
    # Here the 0/1 decision is made on the mask's 3x3 means, which a lone pixel does not cross.
    "today_grey_hard_smooth": {**THIRD_RECIPE, "gen_appearance": "grey", "gen_mask": "hard_smooth"},
    # Eighth session. With either mask the grey frame still shows: through a soft mask inside
    # the blobs (ACD 12-27), as pale rims at a hard mask's edges. Here F is black everywhere and
    # the frame generator draws the mask alone.
    "today_black": {**THIRD_RECIPE, "gen_appearance": "black"},
    "today_black_hard": {**THIRD_RECIPE, "gen_appearance": "black", "gen_mask": "hard"},
    # Over black as over grey, the hard mask scattered specks (single blob 0.005): a background
    # pixel's sigmoid gets no gradient below 0.5 and drifts up to it. Soft in training, hard
    # when sampling.
    "today_black_sampled": {**THIRD_RECIPE, "gen_appearance": "black",
                            "gen_mask": "hard_at_sampling"},
    # The blobs' tracks wobble (motion deviation 2-3 px, real 0.38) where Shape Motion's move at
    # constant velocity: the GRU's noise only at the first frame.
    "today_black_sampled_first": {**THIRD_RECIPE, "gen_appearance": "black",
                                  "gen_mask": "hard_at_sampling", "motion_noise": "first_frame"},
    # Ninth session. The recipe's generator drew no squares at all: no blob fills more than 0.95
    # of its bounding box, where the real squares fill 1.0, and turning every real clip's shape
    # into a disc alone costs fd_shapes 99-111. The shape classes, which the folder dataset
    # labels, given to the GRU and to a class head on D_V (the paper's conditional MoCoGAN).
    "today_conditional": {**TENTH_RECIPE, "conditional": True},
    # The conditional generator drew no squares either (0.008 of its videos): knowing the class
    # does not give the networks the means to draw one. A wider D_I to see corners, a wider
    # frame generator to draw them, and both.
    "today_wide_di": {**TENTH_RECIPE, "image_disc_channels": (32, 64, 128)},
    "today_wide_gen": {**TENTH_RECIPE, "gen_channels": (128, 64, 32, 16)},
    "today_wide_both": {**TENTH_RECIPE, "image_disc_channels": (32, 64, 128),
                        "gen_channels": (128, 64, 32, 16)},
    # Or the frame generator must learn to draw the shape again at every position, and draws a
    # ragged blob that changes as it moves: here it draws one image per video from the content
    # code and the motion code moves it (`--gen_motion=translate`).
    "today_translate": {**TENTH_RECIPE, "gen_motion": "translate"},
    # A wider frame generator drew the best blobs (today_wide_gen) but made a step 1.5x as long:
    # it drew 128 frames a step. Translating, it draws 8 images, so width costs little.
    "today_translate_wide": {**TENTH_RECIPE, "gen_motion": "translate", "gen_channels": (128, 64, 32, 16)},
    "today_translate_wider": {**TENTH_RECIPE, "gen_motion": "translate",
                              "gen_channels": (256, 128, 64, 32)},
    # Wider or translating, no generator draws a square: the discs may be what D_I's R1 at 10
    # lets through, a smooth D_I that sees a blob's presence, colour and size but not its corners
    # (StyleGAN2-ADA's heuristic for 64 frames of 64x64 gives 0.013).
    "today_di_r1_1": {**TENTH_RECIPE, "r1_gamma_image": 1.0},
    "today_di_r1_01": {**TENTH_RECIPE, "r1_gamma_image": 0.1},
    # Eleventh session. With R1 at any weight D_I lets the discs through: the generator may have
    # dropped the square mode, which a discriminator that sees one frame (or clip) at a time
    # cannot notice. StyleGAN's minibatch standard deviation shows both discriminators the
    # spread of a group of 4.
    "today_mbstd": {**TENTH_RECIPE, "disc_minibatch_std": 4},
    # The conditional model (today_conditional) gave the frame generator the class only through
    # the GRU's motion codes, and its D_V class head was satisfied by area. Projection
    # conditioning puts the class in the content code and asks both discriminators, D_I at full
    # resolution, whether a frame is a real member of its class.
    "today_projection": {**TENTH_RECIPE, "conditional": True, "conditioning": "projection"},
    # The recipe's blobs change outline from frame to frame. Translating one drawn image keeps
    # it rigid, but the canvas's specks came into view (today_translate*); here the image fades
    # to black beyond 0.3 of the frame from its centre. Drawing 8 images a step instead of 128
    # frames, the frame generator can be 4x as wide and a step still costs less.
    "today_sprite": {**TENTH_RECIPE, "gen_motion": "translate", "sprite_radius": 0.3,
                     "gen_channels": (256, 128, 64, 32)},
    # The windowed sprite (today_sprite) drew rigid, steadily moving blobs; with the class in
    # its content code and projection discriminators, or with the masks pushed to 0 or 1. The
    # recipe's masks are soft in training, a halo around each blob, so D judges haloed blobs and
    # the sampled 0/1 outline is where a shallow ramp crosses 0.5. The penalty on m * (1 - m),
    # which lifted single blob over grey frames (0.796 -> 0.900), pushes them to 0 or 1.
    "today_sprite_projection": {**TENTH_RECIPE, "gen_motion": "translate", "sprite_radius": 0.3,
                                "gen_channels": (256, 128, 64, 32), "conditional": True,
                                "conditioning": "projection"},
    "today_sprite_mask_10": {**TENTH_RECIPE, "gen_motion": "translate", "sprite_radius": 0.3,
                             "gen_channels": (256, 128, 64, 32), "mask_penalty": 10.0},
    "today_sprite_projection_mask_10": {**TENTH_RECIPE, "gen_motion": "translate", "sprite_radius": 0.3,
                                        "gen_channels": (256, 128, 64, 32), "conditional": True,
                                        "conditioning": "projection", "mask_penalty": 10.0},
    # The last two trade single blob (0.965 without the penalty, 0.81 with it) against
    # fd_shapes (138 against 66.6): the penalty at 3, and each of the two again from seed 1.
    "today_sprite_projection_mask_3": {**TENTH_RECIPE, "gen_motion": "translate", "sprite_radius": 0.3,
                                       "gen_channels": (256, 128, 64, 32), "conditional": True,
                                       "conditioning": "projection", "mask_penalty": 3.0},
    "today_sprite_projection_seed1": {**TENTH_RECIPE, "gen_motion": "translate", "sprite_radius": 0.3,
                                      "gen_channels": (256, 128, 64, 32), "conditional": True,
                                      "conditioning": "projection", "seed": 1},
    "today_sprite_projection_mask_10_seed1": {
        **TENTH_RECIPE, "gen_motion": "translate", "sprite_radius": 0.3,
        "gen_channels": (256, 128, 64, 32), "conditional": True, "conditioning": "projection",
        "mask_penalty": 10.0, "seed": 1},
    # Some of that run's videos show two objects in some frames: the 0.3 window holds two
    # small shapes side by side. 0.22 of 64 pixels (14.1) is where the largest square's corner
    # lies, so the window still takes any Shape Motion shape whole.
    "today_sprite_projection_mask_10_r22_seed1": {
        **TENTH_RECIPE, "gen_motion": "translate", "sprite_radius": 0.22,
        "gen_channels": (256, 128, 64, 32), "conditional": True, "conditioning": "projection",
        "mask_penalty": 10.0, "seed": 1},
    # Twelfth session, on Shape Motion made with --equal_areas (a square covers a circle's area,
    # so size tells nothing of the class): D_I gets an AC-GAN class head, which has to learn
    # corners to read real frames, and the generator pays when its frames do not read as their
    # class.
    "today_image_class_head": {**ELEVENTH_RECIPE, "image_class_head": "shared"},
    "today_image_class_head_seed1": {**ELEVENTH_RECIPE, "image_class_head": "shared", "seed": 1},
    # Inside the GAN the head read real frames at 0.4-0.9 after 1,800 steps, where alone
    # (`trainer.evaluation.class_probe`) the same network reads 0.9 after 300-400.
    "today_image_class_head_weight_5": {**ELEVENTH_RECIPE, "image_class_head": "shared", "image_class_weight": 5.0},
    # The head with a body of its own, which only the class teaches.
    "today_image_class_branch": {**ELEVENTH_RECIPE, "image_class_head": "separate"},
    # The generator beat that one with stripes; this one learns generated frames too.
    "today_image_class_adc": {**ELEVENTH_RECIPE, "image_class_head": "adc"},
    # It drew the first squares (0.109 of videos), ragged, with single blob 0.651: less of it,
    # and another seed.
    "today_image_class_adc_weight_03": {**ELEVENTH_RECIPE, "image_class_head": "adc", "image_class_weight": 0.3},
    "today_image_class_adc_seed1": {**ELEVENTH_RECIPE, "image_class_head": "adc", "seed": 1},
    # Its masks came out ragged and in pieces: a stronger pull to 0 or 1.
    "today_image_class_adc_mask_30": {**ELEVENTH_RECIPE, "image_class_head": "adc", "mask_penalty": 30.0},
    # Thirteenth session: cleaner masks under ADC. The best ADC run on another seed; the
    # generator paying the class only once the sprite has settled (the head learns from step
    # 0); and a penalty on the masks' outline length, which ragged pieces lengthen.
    "today_adc_mask_30_seed1": {**ELEVENTH_RECIPE, "image_class_head": "adc", "mask_penalty": 30.0,
                                "seed": 1},
    "today_adc_mask_30_start_900": {**ELEVENTH_RECIPE, "image_class_head": "adc", "mask_penalty": 30.0,
                                    "image_class_start": 900},
    "today_adc_mask_30_edges_10": {**ELEVENTH_RECIPE, "image_class_head": "adc", "mask_penalty": 30.0,
                                   "mask_edge_penalty": 10.0},
    "today_adc_mask_30_edges_30": {**ELEVENTH_RECIPE, "image_class_head": "adc", "mask_penalty": 30.0,
                                   "mask_edge_penalty": 30.0},
    # The outline penalty on the recipe itself, without a class network.
    "today_edges_10": {**ELEVENTH_RECIPE, "mask_edge_penalty": 10.0},
    # Fourteenth session: the sprite's mask as a star-convex outline (one piece, no holes, by
    # construction), alone and under the ADC class network that drew ragged squares.
    "today_star": {**ELEVENTH_RECIPE, "sprite_shape": "star"},
    "today_star_adc": {**ELEVENTH_RECIPE, "sprite_shape": "star", "image_class_head": "adc"},
    # Its Fourier outline drew four-pointed stars: a convex polygon cannot bend inwards.
    "today_convex": {**ELEVENTH_RECIPE, "sprite_shape": "convex"},
    "today_convex_adc": {**ELEVENTH_RECIPE, "sprite_shape": "convex", "image_class_head": "adc"},
    # Fifteenth session: it drew wedges; a superellipse holds only shapes from a disc to a square.
    "today_superellipse": {**ELEVENTH_RECIPE, "sprite_shape": "superellipse"},
    "today_superellipse_adc": {**ELEVENTH_RECIPE, "sprite_shape": "superellipse",
                               "image_class_head": "adc"},
    # It drew discs and squares (fd_shapes 75.5 against 105 for the convex outline): again from seed 1.
    "today_superellipse_adc_seed1": {**ELEVENTH_RECIPE, "sprite_shape": "superellipse",
                                     "image_class_head": "adc", "seed": 1},
    # Tracks as the data's: a start and velocities, summed and mirrored at the walls.
    "today_superellipse_bounce": {**ELEVENTH_RECIPE, "sprite_shape": "superellipse",
                                  "motion_path": "bounce"},
    "today_superellipse_adc_bounce": {**ELEVENTH_RECIPE, "sprite_shape": "superellipse",
                                      "image_class_head": "adc", "motion_path": "bounce"},
    "today_superellipse_adc_bounce_seed1": {**ELEVENTH_RECIPE, "sprite_shape": "superellipse",
                                            "image_class_head": "adc", "motion_path": "bounce",
                                            "seed": 1},
    # One velocity a video, the first code's: straight tracks between bounces by construction.
    "today_superellipse_constant": STRAIGHT,
    "today_superellipse_adc_constant": STRAIGHT_ADC,
    "today_superellipse_adc_constant_seed1": {**STRAIGHT_ADC, "seed": 1},
    # Both classes went on to squares from the rounded square they start as: start at a disc.
    "today_superellipse_adc_constant_disc": {**STRAIGHT_ADC, "sprite_start_exponent": 3.0},
    "today_superellipse_constant_seed1": {**STRAIGHT, "seed": 1},
    # It drew discs in its circle class and squares in its square class (fd_shapes 32.4): again
    # from seed 1 and 2, and without the class network.
    "today_superellipse_adc_constant_disc_seed1": {**STRAIGHT_ADC, "sprite_start_exponent": 3.0,
                                                   "seed": 1},
    "today_superellipse_adc_constant_disc_seed2": {**STRAIGHT_ADC, "sprite_start_exponent": 3.0,
                                                   "seed": 2},
    "today_superellipse_constant_disc": {**STRAIGHT, "sprite_start_exponent": 3.0},
    # On seed 1 both classes stayed discs (fd_shapes 103.5): a start halfway, or a class term
    # three times as strong, each on that seed; then the halfway start on seed 0.
    "today_superellipse_adc_constant_n5_seed1": {**STRAIGHT_ADC, "sprite_start_exponent": 5.0,
                                                 "seed": 1},
    "today_superellipse_adc3_constant_disc_seed1": {**STRAIGHT_ADC, "image_class_weight": 3.0,
                                                    "sprite_start_exponent": 3.0, "seed": 1},
    "today_superellipse_adc_constant_n5": {**STRAIGHT_ADC, "sprite_start_exponent": 5.0},
    # The recipe's tracks ran 16-27% slow, and a third of their directions lay within 15 degrees
    # of an axis (the data has none): a velocity as a direction and a speed, each set on its own.
    "today_polar": {**SEVENTEENTH_RECIPE, "velocity_form": "polar"},
    "today_polar_seed1": {**SEVENTEENTH_RECIPE, "velocity_form": "polar", "seed": 1},
    # The class split was a coin per run (4 of 8), and the polar run drew squares in both classes:
    # a class's own weights to its shape, and an exponent that leaves its ends when pushed back.
    "today_direct": {**SEVENTEENTH_RECIPE, "sprite_code": "direct"},
    "today_direct_seed1": {**SEVENTEENTH_RECIPE, "sprite_code": "direct", "seed": 1},
    "today_direct_seed2": {**SEVENTEENTH_RECIPE, "sprite_code": "direct", "seed": 2},
    # Every run spread its directions over all angles, a third within 15 degrees of an axis
    # (polar velocities too): MoCoGAN's categorical motion, drawn at random, as a switch.
    "today_direct_modes": {**SEVENTEENTH_RECIPE, "sprite_code": "direct", "motion_modes": 4},
    # A quarter of the colours were paler than the data's palest: hue, chroma and lightness.
    "today_direct_chroma": {**SEVENTEENTH_RECIPE, "sprite_code": "direct",
                            "colour_form": "chroma"},
    "today_direct_modes_chroma": {**SEVENTEENTH_RECIPE, "sprite_code": "direct",
                                  "motion_modes": 4, "colour_form": "chroma"},
    # Neither polar velocities nor motion modes moved the directions off the axes: the
    # discriminators' view of a batch's spread (StyleGAN's minibatch standard deviation).
    "today_direct_chroma_mbstd": {**SEVENTEENTH_RECIPE, "sprite_code": "direct",
                                  "colour_form": "chroma", "disc_minibatch_std": 4},
    # Nineteenth session. Polar velocities drew one shape in both classes under the hidden
    # shape code, which the direct code fixed: the two together. And D_V told a velocity's
    # direction and speed as numbers (a track head), alone, with polar velocities, and with
    # motion modes, the switch between quadrants a smooth map of Gaussian codes lacks.
    "today_direct_polar": {**EIGHTEENTH_RECIPE, "velocity_form": "polar"},
    "today_direct_track": {**EIGHTEENTH_RECIPE, "track_head_units": 64},
    "today_direct_polar_track": {**EIGHTEENTH_RECIPE, "velocity_form": "polar", "track_head_units": 64},
    "today_direct_modes_track": {**EIGHTEENTH_RECIPE, "motion_modes": 4, "track_head_units": 64},
    # The head reading the foreground's colour and size too; and with the forms that can hold
    # the data's four quadrants of directions (motion modes) and its ring of colours (chroma).
    "today_direct_look": {**EIGHTEENTH_RECIPE, "track_head_units": 64,
                          "track_head_reads": "track_colour_size"},
    "today_direct_modes_chroma_look": {**EIGHTEENTH_RECIPE, "motion_modes": 4,
                                       "colour_form": "chroma", "track_head_units": 64,
                                       "track_head_reads": "track_colour_size"},
    # The probes above ran with the head's logit added to D_V's, where it learnt hardly anything
    # of the data's speeds (its logit rose with any speed): its own logit and loss now.
    "today_direct_track_own": {**EIGHTEENTH_RECIPE, "track_head_units": 64},
    "today_direct_modes_track_own": {**EIGHTEENTH_RECIPE, "motion_modes": 4,
                                     "track_head_units": 64},
    # The head with its own loss scored 25.7 against the recipe before's 38.9: again from seed
    # 1, and reading colour and size too (summed, that broke the class split).
    "today_direct_track_own_seed1": {**EIGHTEENTH_RECIPE, "track_head_units": 64, "seed": 1},
    "today_direct_track_own_seed2": {**EIGHTEENTH_RECIPE, "track_head_units": 64, "seed": 2},
    "today_direct_look_own": {**EIGHTEENTH_RECIPE, "track_head_units": 64,
                              "track_head_reads": "track_colour_size"},
    # It learnt the speeds, hardly the directions' gap at the axes: the heading as numbers.
    "today_direct_heading_own": {**EIGHTEENTH_RECIPE, "track_head_units": 64,
                                 "track_head_reads": "track_heading"},
    # The fresh-clone demo used 7 min 47 s of its 15: the recipe's seed-0 probe continued from
    # its 1,800-step checkpoint (a copy of its folder) to 2,700 steps, as a rerun of `make demo`
    # continues.
    "today_direct_track_own_2700": {**EIGHTEENTH_RECIPE, "track_head_units": 64},
    # More steps did not help (32.3 at 2,700): the colours, a third of them pale, with the
    # chroma form (the pale share 0.16 without the head) under the head.
    "today_direct_chroma_track_own": {**EIGHTEENTH_RECIPE, "track_head_units": 64,
                                      "colour_form": "chroma"},
    # Twentieth session. fd_attribution charged the tracks most (generated with real tracks:
    # 53.5 -> 27.9), a third of their directions near an axis: the quadrant as a random
    # category the velocity reads directly, its sizes learnt (seeds 0-2).
    "today_quadrant": {**EIGHTEENTH_RECIPE, "track_head_units": 64, "velocity_form": "quadrant"},
    "today_quadrant_seed1": {**EIGHTEENTH_RECIPE, "track_head_units": 64,
                             "velocity_form": "quadrant", "seed": 1},
    "today_quadrant_seed2": {**EIGHTEENTH_RECIPE, "track_head_units": 64,
                             "velocity_form": "quadrant", "seed": 2},
    # Quadrants took the tracks (near an axis 0.164, speed 2.41 of 2.47; with the real tracks
    # fd_attribution fell only from 76.3 to 32.4) and left the colours (0.406 pale; with the
    # real colours 26.3): chroma colours, a ring of hues by construction, beside them.
    "today_quadrant_chroma": {**EIGHTEENTH_RECIPE, "track_head_units": 64,
                              "velocity_form": "quadrant", "colour_form": "chroma"},
    # Chroma lowered the pale share (0.234) and not fd (49.2): the head reading the colour as
    # numbers, without the size that broke the class split.
    "today_quadrant_colour": {**EIGHTEENTH_RECIPE, "track_head_units": 64,
                              "velocity_form": "quadrant", "track_head_reads": "track_colour"},
    # Chroma's sums are clipped to the RGB cube, where no gradient passes: hue, saturation and
    # value, each a number of its own and every output a colour.
    "today_quadrant_hsv": {**EIGHTEENTH_RECIPE, "track_head_units": 64,
                           "velocity_form": "quadrant", "colour_form": "hsv"},
    # HSV went as pale (0.492), and the pale share grows with training (0.26 at 1,000 steps,
    # 0.38 at 1,800): D drives it. In training the outline's 1-pixel sigmoid edge leaves 82% of
    # the mask's pixels above 0.05 below 0.95 (mean 0.53): D sees dim haloed sprites and G
    # brightens them the one way left, towards white. A mask that is 0/1 in training too
    # (straight-through), as it is when sampling; an outline cannot scatter specks.
    "today_quadrant_hard": {**EIGHTEENTH_RECIPE, "track_head_units": 64,
                            "velocity_form": "quadrant", "gen_mask": "hard"},
    # 15.9 (2.0x real): again from seeds 1 and 2, and the hard mask without quadrants.
    "today_quadrant_hard_seed1": {**EIGHTEENTH_RECIPE, "track_head_units": 64,
                                  "velocity_form": "quadrant", "gen_mask": "hard", "seed": 1},
    "today_quadrant_hard_seed2": {**EIGHTEENTH_RECIPE, "track_head_units": 64,
                                  "velocity_form": "quadrant", "gen_mask": "hard", "seed": 2},
    "today_direct_track_own_hard": {**EIGHTEENTH_RECIPE, "track_head_units": 64,
                                    "gen_mask": "hard"},
    # The recipe (10.0-15.9 on seeds 0-2) leaves a quarter to a third of its colours pale:
    # chroma colours, tried only under the soft mask, under the hard one.
    "today_quadrant_hard_chroma": {**RECIPE, "colour_form": "chroma"},
    # 14.1 with 0.203 pale (the recipe's seed 0: 15.9, 0.289): again from seeds 1 and 2.
    "today_quadrant_hard_chroma_seed1": {**RECIPE, "colour_form": "chroma", "seed": 1},
    "today_quadrant_hard_chroma_seed2": {**RECIPE, "colour_form": "chroma", "seed": 2},
    # 14.1, 18.4 and 11.1 (mean 14.5, the recipe's 13.1) with 0.18-0.26 pale: the recipe keeps
    # RGB colours.
}
METRICS = ("fd_shapes", "acd", "single_blob_fraction", "area_distance", "motion_deviation", "mean_speed")


def flag_args(values: dict) -> list[str]:
    args = []
    for name, value in values.items():
        if isinstance(value, (tuple, list)):
            args.append(f"--{name}={','.join(str(v) for v in value)}")
        elif isinstance(value, bool):
            args.append(f"--{name}" if value else f"--no{name}")
        else:
            args.append(f"--{name}={value}")
    return args


def run_probe(name: str, tfrecords: str, out: str, steps: int) -> dict:
    """Trains and reports one probe; returns its table row."""
    model_dir = os.path.join(out, name)
    values = {**BASE, **PROBES[name], "train_steps": steps}
    command = [sys.executable, "-m", "trainer.main", f"--tfrecords={tfrecords}",
               f"--model_dir={model_dir}", *flag_args(values)]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    minutes = (time.perf_counter() - start) / 60
    report_dir = os.path.join(model_dir, "report")
    subprocess.run([sys.executable, "-m", "trainer.evaluation.report", f"--model_dir={model_dir}",
                    f"--tfrecords={tfrecords}", f"--out_dir={report_dir}", "--num_videos=128",
                    "--metrics=shape_motion",
                    f"--feature_model_dir={os.path.join(out, 'feature_net')}"], check=True)
    with tf.io.gfile.GFile(os.path.join(report_dir, "metrics.json")) as f:
        report = json.load(f)
    return {"probe": name, "flags": " ".join(flag_args(PROBES[name])) or "(the recipe)",
            "steps": report["step"], "minutes": minutes,
            **{k: report["metrics"]["trained"].get(k) for k in METRICS},
            "real": {k: report["metrics"]["real"].get(k) for k in METRICS}}


def table_row(row: dict) -> str:
    cells = [row["probe"], f"`{row['flags']}`", str(row["steps"]), f"{row['minutes']:.1f}"]
    cells += ["-" if row[k] is None else f"{row[k]:.3g}" for k in METRICS]
    return "| " + " | ".join(cells) + " |"


def main(argv):
    del argv
    f = flags.FLAGS
    names = f.probes.split(",")
    unknown = sorted(set(names) - set(PROBES))
    if unknown:
        sys.exit(f"error: unknown --probes {unknown}; choose from {sorted(PROBES)}")
    tf.io.gfile.makedirs(f.out)
    rows = []
    for name in names:
        rows.append(run_probe(name, f.tfrecords, f.out, f.steps))
        print(table_row(rows[-1]), flush=True)
        write_tables(f.out, rows)


def write_tables(out: str, rows: list[dict]) -> None:
    """probes.md (a markdown table) and probes.jsonl, rewritten after every probe."""
    header = ("| probe | flags | steps | minutes | " + " | ".join(METRICS) + " |\n"
              + "|" + "---|" * (4 + len(METRICS)) + "\n")
    with tf.io.gfile.GFile(os.path.join(out, "probes.md"), "w") as f:
        f.write(header + "".join(table_row(row) + "\n" for row in rows))
    with tf.io.gfile.GFile(os.path.join(out, "probes.jsonl"), "w") as f:
        f.write("".join(json.dumps(row) + "\n" for row in rows))


if __name__ == "__main__":
    flags.DEFINE_string("tfrecords", None, "Shard set of Shape Motion clips (make demo's).")
    flags.DEFINE_string("out", None, "Folder for the probes' model directories and probes.md.")
    flags.DEFINE_string("probes", "baseline", "Comma-separated names from PROBES.")
    flags.DEFINE_integer("steps", 1500, "Training steps of every probe.")
    flags.mark_flags_as_required(["tfrecords", "out"])
    app.run(main)
