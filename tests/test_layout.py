"""The import arrows of the layout (README, Layout), checked on the source of every module.

- Nothing in `pipeline/` imports the trainer.
- The trainer imports from the pipeline only what both halves share: the shard format and layout,
  the media, file, lock and TensorFlow start-up helpers, the drawing of a Shape Motion shape; never the pipeline's jobs.
- Inside `trainer/`, a folder imports only folders below it: the training core (the top level,
  `configs/`, `networks/`, `checkpoints/`) < `generation/` < `evaluation/` < `retraining/`.
- The networks (`trainer/networks/`) know nothing of training: from the trainer they import only
  each other and the flag declarations of their options.
- The trainer's top floor holds at most MAX_TOP_FLOOR modules: past that, rooms group into folders.
"""

import ast
import pathlib

REPO = pathlib.Path(__file__).resolve().parent.parent
SHARED = {"schema", "shard_layout", "media", "files", "run_lock", "tf_startup", "shape_drawing"}
LAYERS = ("core", "generation", "evaluation", "retraining")
MAX_TOP_FLOOR = 14
# What trainer/networks/ may import from the trainer besides itself.
NETWORKS_MAY_IMPORT = ("trainer.flag_fields",)
# Arrows that point up on purpose, each with why.
UPWARD = {
    ("trainer/train_lib.py", "trainer.evaluation.training_evaluator"):
        "evaluation during training (--eval_every); imported only by runs that evaluate",
}


def imports(path: pathlib.Path) -> set[str]:
    """Every module `path` imports, at any depth, as dotted names (`from a import b` gives a.b)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def layer(dotted: str) -> str:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in LAYERS else "core"


def modules(package: str):
    for path in sorted((REPO / package).rglob("*.py")):
        yield path.relative_to(REPO).as_posix(), imports(path)


def test_the_pipeline_never_imports_the_trainer():
    wrong = [(name, i) for name, found in modules("pipeline") for i in found
             if i.split(".")[0] == "trainer"]
    assert not wrong, wrong


def test_the_trainer_takes_only_the_shared_modules_from_the_pipeline():
    wrong = [(name, i) for name, found in modules("trainer") for i in found
             if i.split(".")[0] == "pipeline" and i.split(".")[1] not in SHARED]
    assert not wrong, wrong


def test_trainer_folders_import_only_folders_below_them():
    wrong = []
    for name, found in modules("trainer"):
        own = layer(name.removesuffix(".py").replace("/", "."))
        for i in found:
            if i.split(".")[0] == "trainer" and LAYERS.index(layer(i)) > LAYERS.index(own):
                if (name, i) not in UPWARD:
                    wrong.append((name, i))
    assert not wrong, wrong


def test_the_networks_import_nothing_of_training():
    wrong = [(name, i) for name, found in modules("trainer/networks") for i in found
             if i.split(".")[0] == "trainer" and not i.startswith("trainer.networks")
             and not i.startswith(NETWORKS_MAY_IMPORT)]
    assert not wrong, wrong


def test_the_trainer_top_floor_has_at_most_its_share_of_modules():
    top = sorted(path.name for path in (REPO / "trainer").glob("*.py") if path.name != "__init__.py")
    assert len(top) <= MAX_TOP_FLOOR, f"{len(top)} modules on trainer/'s top floor: {top}"


def test_the_check_sees_an_arrow_that_points_up(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from trainer.retraining import retrain\n")
    assert imports(module) == {"trainer.retraining.retrain"}
    assert layer("trainer.retraining.retrain") == "retraining" and layer("trainer.config") == "core"


def test_the_readme_layout_names_every_module():
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Layout"):]
    section = section[:section.find("\n## ", 1) if "\n## " in section[1:] else None]
    missing = [path.relative_to(REPO).as_posix() for package in ("pipeline", "trainer")
               for path in sorted((REPO / package).rglob("*.py"))
               if path.name != "__init__.py" and path.parent.name != "configs"
               and f"{path.stem}.py" not in section]
    assert not missing, f"README's Layout does not name {missing}"
