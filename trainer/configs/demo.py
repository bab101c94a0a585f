"""The `make demo` recipe: MoCoGAN on Shape Motion, sized for a 2-core laptop CPU.

    python -m trainer.main --recipe=demo --tfrecords=demo/shards --model_dir=demo/run

About 7-10 minutes of training (1,800 steps at 26-36 clips/s) on a 2-core AVX2 machine, and
`make demo` about 7-12 minutes in all from a fresh clone, on the 1,000 Shape Motion videos
`make demo` writes; a rerun trains 1,800 more from the last checkpoint.

What the generator is (seventeenth to twentieth sessions; BUILD.md, "The demo", has the
probe tables):
- each video is one sprite over black: its outline a superellipse |x|^n + |y|^n <= r^n whose
  size r and exponent n the content code sets (`sprite_shape="superellipse"`; a disc at n = 2,
  a square as n grows), revealing one colour per video that the content code sets too;
- the sprite's mask is 0 or 1 in training as when sampling, with the outline's sigmoid gradient
  passed straight through (`gen_mask="hard"`). Soft in training (`"hard_at_sampling"`, the
  recipe before), the outline's 1-pixel sigmoid edge left 82% of the mask's lit pixels between
  0.05 and 0.95: D learnt dim haloed sprites that G never samples, and G brightened them the
  one way left to it, towards white (a third to a half of the colours pale, more with every
  checkpoint). Hard in training (with quadrant velocities), fd_shapes fell from 25.7-38.1 to
  10.0-15.9 on seeds 0-2 (1.3x-2.0x real), and a fresh-clone `make demo` scored 13.8 (1.77x).
  A painted canvas scattered specks under a hard mask (eighth session); an outline cannot;
- every outline starts as a disc (`sprite_start_exponent=3`), and the size and exponent read the
  content code (with the class) directly as well as through a hidden layer, the exponent
  clipped to its range with its gradient passed through (`sprite_code="direct"`). Through the
  hidden layer alone, which way the classes went was a coin per run: both classes settled on
  one shape together in six runs of ten and stayed there;
- the GRU's first motion code sets where the sprite starts and its one velocity, and the path is
  mirrored at the frame's borders, the sprite's own size inside them
  (`motion_path="constant_velocity"`): straight tracks between bounces by construction. The
  velocity's signs are a random quadrant read off the motion noise, MoCoGAN's categorical
  motion read directly, and only their sizes are learnt (`velocity_form="quadrant"`): one smooth
  map of Gaussian noise cannot split into Shape Motion's four quadrants with gaps at the axes,
  and a third of the directions had lain within 15 degrees of one (real 0.06);
- a track head on the video discriminator (`track_head_units=64`): an MLP on where each clip's
  foreground starts and how fast and which way it moves over its first frames, with a logit and
  a loss of its own beside D_V's;
- an ADC class network on the image discriminator (`image_class_head="adc"`: it learns real
  frames as their class and generated frames as classes of their own), which is what makes the
  square class draw squares: without it, both classes settled on rounded squares.

What the recipe keeps from the sessions before (BUILD.md has their rows):
- the video discriminator judges clips pooled 2x in space (DVD-GAN's temporal discriminator
  does the same) and R1 runs lazily every 16 steps with weight 16 (StyleGAN2): a step costs
  about a third of what it did, so the same minutes train three times the steps;
- 64 frames a step for the image discriminator instead of 16: with 4x the frames D_I's signal
  is what darkened the backgrounds and gathered each video's colour into one blob;
- one colour per video under a mask over black (`gen_appearance="black"`), with a penalty on
  m * (1 - m) at 10 (`mask_penalty`): every blob is exactly its video's colour on exact black
  (ACD 0.000);
- the GRU takes its noise at the first frame only (`motion_noise="first_frame"`): the motion
  is fixed at the start, as Shape Motion's objects keep their velocity;
- one sprite per video that each frame moves (`gen_motion="translate"`), inside a window of
  0.22 of the frame (`sprite_radius`; 14 of 64 pixels, where the largest square's corner lies);
- the class (Shape Motion's folders, circle and square) joins the content code, and both
  discriminators are projection discriminators (`conditional`, `conditioning="projection"`).
Instance noise is not in it: it lowered fd_shapes on one feature net but not on the report's
stable one, and makes a step 1.25x as long. The Makefile's 1,000 videos instead of 300 keep D_V
from learning the clips by heart (its loss stays near 0.75 instead of falling to 0.15-0.5).
"""

FLAGS = dict(
    preset="small",
    batch_size=8,
    image_batch_size=64,
    learning_rate=5e-4,
    r1_gamma=10.0,
    r1_every=16,
    video_disc_pool=2,
    gen_appearance="black",
    gen_mask="hard",
    motion_noise="first_frame",
    gen_motion="translate",
    sprite_radius=0.22,
    sprite_shape="superellipse",
    sprite_start_exponent=3.0,
    sprite_code="direct",
    track_head_units=64,
    motion_path="constant_velocity",
    velocity_form="quadrant",
    conditional=True,
    conditioning="projection",
    image_class_head="adc",
    mask_penalty=10.0,
    ema_decay=0.99,
    more_steps=1800,
    checkpoint_every=500,
    summary_every=100,
    sample_every=500,
)
