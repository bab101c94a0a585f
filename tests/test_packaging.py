"""The project builds as an sdist and a wheel that a Dataflow worker could install.

`--setup_file ./setup.py` makes Beam build an sdist of this repository and install it on every
worker, so both archives must hold the `pipeline` and `trainer` packages and declare the
dependencies that bring ffmpeg (imageio-ffmpeg) along.
"""

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULES = ("pipeline/__init__.py", "pipeline/main.py", "pipeline/decode.py", "pipeline/schema.py",
           "pipeline/shard_layout.py", "pipeline/transforms.py", "pipeline/shard_writer.py",
           "pipeline/clips.py", "pipeline/bair.py",
           "trainer/__init__.py", "trainer/configs/__init__.py", "trainer/evaluation/__init__.py",
           "trainer/generation/__init__.py", "trainer/retraining/__init__.py")
# Build from a copy, so the shared work tree gets no build/ or *.egg-info folders.
_IGNORE = shutil.ignore_patterns(".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__",
                                 ".pytest_cache", "shards", "runs", "tests")


def build(tmp_path):
    source = tmp_path / "src" / "repo"
    shutil.copytree(REPO, source, ignore=_IGNORE, symlinks=True)
    outdir = tmp_path / "dist"
    result = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--wheel", "--no-isolation", "--outdir", str(outdir)],
        cwd=source, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return outdir


def _one(outdir, suffix):
    names = [name for name in os.listdir(outdir) if name.endswith(suffix)]
    assert len(names) == 1, f"expected one *{suffix} in {sorted(os.listdir(outdir))}"
    return os.path.join(outdir, names[0])


def test_sdist_and_wheel_hold_both_packages_and_their_dependencies(tmp_path):
    # One test builds both archives once (a shared fixture would build once per xdist worker).
    built = build(tmp_path)
    with zipfile.ZipFile(_one(built, ".whl")) as wheel:
        names = set(wheel.namelist())
        metadata = next(wheel.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    for module in MODULES:
        assert module in names, f"{module} missing from the wheel"
    assert not [n for n in names if n.startswith("tests/")]
    requires = [line.split(":", 1)[1].strip().lower() for line in metadata.splitlines()
                if line.startswith("Requires-Dist:") and "extra ==" not in line]
    for dependency in ("apache-beam", "tensorflow", "imageio-ffmpeg", "ffmpeg-python"):
        assert any(r.startswith(dependency) for r in requires), f"{dependency} not required: {requires}"

    with tarfile.open(_one(built, ".tar.gz")) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    for module in (*MODULES, "setup.py"):
        assert module in names, f"{module} missing from the sdist"
