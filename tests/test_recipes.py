"""The recipe catalogue: every YAML parses into the argument dataclasses with its values intact, the files match
`recipes/generate.py`, the README lists every recipe with its launch line, the accelerate configs load, and one
Fashion-MNIST-LT recipe of every method family trains for two steps on CPU."""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import os
import sys
from pathlib import Path

import pytest
import torch
import yaml

from ltnc_hf.train import load_recipe, parse_args

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"
RECIPE_PATHS = sorted(
    p.relative_to(REPO).as_posix() for p in RECIPES.rglob("*.yaml") if "accelerate" not in p.relative_to(RECIPES).parts
)


def _generator():
    spec = importlib.util.spec_from_file_location("recipes_generate", RECIPES / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _recipe(path: str) -> dict:
    with open(REPO / path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _parse(path: str, tmp_path):
    return parse_args(["--config", str(REPO / path), "--output_dir", str(tmp_path / "out")])


# ---------------------------------------------------------------------------------------------------------------------
# the catalogue is the generator's output
# ---------------------------------------------------------------------------------------------------------------------
def test_files_are_what_the_generator_writes():
    generate = _generator()
    files = generate.render_all()
    differ = [str(p.relative_to(REPO)) for p, text in files.items() if p.read_text(encoding="utf-8") != text]
    assert not differ, f"out of date (run `python recipes/generate.py`): {differ[:5]}"
    stale = {p.relative_to(REPO).as_posix() for p in generate.generated_yaml_files()} - {
        p.relative_to(REPO).as_posix() for p in files
    }
    assert not stale, f"recipes not produced by recipes/generate.py: {sorted(stale)}"
    assert len(RECIPE_PATHS) == len(files) - 1  # all YAMLs plus the README


def test_catalogue_covers_the_papers_rows():
    names = set(RECIPE_PATHS)
    methods = [
        "ce", "ce_drw", "ldam_drw", "balms", "focal", "cb_softmax", "cb_sigmoid", "etf_ce", "etf_dr", "inc_drw",
        "inc_drw_crt",
    ]  # fmt: skip
    for dataset in ("cifar10_lt", "cifar100_lt"):
        for rho in (200, 100, 50, 10):
            for method in methods:
                for suffix in ("", "_disa"):
                    assert f"recipes/{dataset}/rho{rho}/{method}{suffix}.yaml" in names
            for base in ("ce", "arb"):
                for mode in ("reg", "slerp", "proj"):
                    path = f"recipes/{dataset}/rho{rho}/{base}_spa_{mode}.yaml"
                    assert (path in names) == (rho != 10), path  # SpA reports rho 200, 100, 50
    for rho in (100, 1000):
        assert f"recipes/fmnist_lt/rho{rho}/inc_drw_crt_disa.yaml" in names
    assert {p.split("/")[1] for p in names} == {"cifar10_lt", "cifar100_lt", "imagenet_lt", "places_lt", "fmnist_lt"}


# ---------------------------------------------------------------------------------------------------------------------
# every recipe parses, and its values reach the dataclasses
# ---------------------------------------------------------------------------------------------------------------------
def _normalise(value):
    value = getattr(value, "value", value)  # transformers' str enums (optim, strategies, scheduler type)
    return value


RECIPE_FOLDERS = sorted({p.rsplit("/", 1)[0] for p in RECIPE_PATHS})


def _check_values(path: str, tmp_path) -> list[str]:
    recipe = load_recipe(str(REPO / path))
    data_args, model_args, training_args = _parse(path, tmp_path)
    errors = []
    for key, expected in recipe.items():
        if key == "output_dir" or (key == "imbalance_factor" and expected is None):
            continue  # output_dir is overridden here; the null imbalance factor is tested below
        owner = next(a for a in (data_args, model_args, training_args) if hasattr(a, key))
        got = _normalise(getattr(owner, key))
        if key == "backbone_kwargs":
            got = json.loads(got)
        if got != expected:
            errors.append(f"{path}: {key}={got!r} after parsing, the recipe says {expected!r}")
    return errors


@pytest.mark.parametrize("folder", RECIPE_FOLDERS)
def test_recipes_parse_with_their_values(folder, tmp_path):
    paths = [p for p in RECIPE_PATHS if p.rsplit("/", 1)[0] == folder]
    errors = []
    for path in paths:
        try:
            errors += _check_values(path, tmp_path)
        except Exception as err:  # report every broken recipe of the folder at once
            errors.append(f"{path}: {type(err).__name__}: {err}")
    assert not errors, "\n".join(errors)


FIXED_SPLIT = [p for p in RECIPE_PATHS if _recipe(p).get("imbalance_factor", 0) is None]


def test_fixed_split_recipes_leave_the_imbalance_factor_unset(tmp_path):
    assert FIXED_SPLIT
    for path in FIXED_SPLIT:
        data_args, _, _ = _parse(path, tmp_path)
        assert data_args.imbalance_factor is None, path


def test_recipes_are_consistent():
    recipes = {p: _recipe(p) for p in RECIPE_PATHS}
    outputs = [r["output_dir"] for r in recipes.values()]
    assert len(set(outputs)) == len(outputs), "two recipes write to the same output_dir"
    for path, r in recipes.items():
        assert r["output_dir"] == "outputs/" + path[len("recipes/") : -len(".yaml")], path
        assert "seed" in r, path
        if r.get("imbalance_factor") is not None:  # a subset we draw: it must be named
            assert r["lt_selection"] == "ldam" and r["lt_seed"] == 0 and r["lt_profile"] == "exp", path
        if r.get("stage") == "crt":
            first = r["model_name_or_path"]
            assert first.endswith("/final") and first[: -len("/final")] in outputs, path
            continue
        width = r.get("backbone_kwargs", {}).get("width", 16)
        if r["dataset"] == "cifar100":
            assert width == 32, f"{path}: CIFAR-100 runs on the width-32 ResNet-32 (d = 128 >= 100 classes)"
        if r.get("disa"):
            assert r["head"] == "etf" or r.get("disa_target_etf"), f"{path}: DisA needs a target ETF"
            assert (r["disa_weight"], r["disa_epsilon"]) == (0.1, 1.0), path
        if r.get("drw"):
            assert 0 < r["drw_start_epoch"] < r["num_train_epochs"], path
        if "lr_step_epochs" in r:
            assert all(0 < int(e) < r["num_train_epochs"] for e in r["lr_step_epochs"].split(",")), path
        if r["dataset"] in ("cifar10", "cifar100"):
            schedule = (r["learning_rate"], r["per_device_train_batch_size"], r["num_train_epochs"])
            assert schedule == (0.1, 128, 200) and r["lr_step_epochs"] == "160,180", path
            assert r["mixup_alpha"] == 1.0 and r["optim_args"] == "momentum=0.9", path


MODEL_CASES = [
    "recipes/cifar100_lt/rho100/etf_dr_disa.yaml",
    "recipes/cifar100_lt/rho100/ldam_drw_disa.yaml",
    "recipes/cifar100_lt/rho100/ce_spa_proj.yaml",
]  # (the ImageNet-LT models take tens of seconds to build on this CPU)


@pytest.mark.parametrize("path", MODEL_CASES)
def test_recipe_builds_its_model(path, tmp_path):
    from ltnc_hf.train import build_model

    data_args, model_args, _ = _parse(path, tmp_path)
    num_labels = 100
    model = build_model(model_args, data_args, num_labels, {i: str(i) for i in range(num_labels)})
    recipe = _recipe(path)
    expected_dim = recipe.get("projection_dim") or 4 * recipe.get("backbone_kwargs", {}).get("width", 16)
    assert model.feature_dim == expected_dim >= num_labels
    assert (model.get_target_etf() is not None) == bool(recipe.get("disa") or recipe["head"] == "etf")
    assert (model.classifier_parameter is not None) == (recipe["head"] != "etf")
    torch.manual_seed(0)
    pixels = torch.randn(2, 3, data_args.image_size, data_args.image_size)
    with torch.no_grad():
        out = model(pixel_values=pixels)
    assert out.logits.shape == (2, num_labels) and out.features.shape == (2, expected_dim)


# ---------------------------------------------------------------------------------------------------------------------
# README and launchers
# ---------------------------------------------------------------------------------------------------------------------
def test_readme_lists_every_recipe_with_its_launch_line():
    readme = (RECIPES / "README.md").read_text(encoding="utf-8")
    for path in RECIPE_PATHS:
        name = path[len("recipes/") :]
        assert f"[`{name}`]({name})" in readme, path
        assert f"--config {path}`" in readme, f"{path}: no launch line in recipes/README.md"
    for line in readme.splitlines():
        if "--config recipes/" in line:
            config = line.split("--config ", 1)[1].split()[0].strip("`")
            assert (REPO / config).is_file(), f"README launches a missing recipe: {config}"


@pytest.mark.parametrize(
    "name, processes, machines",
    [("single_gpu", 1, 1), ("multi_gpu_4", 4, 1), ("multi_node", 8, 2)],
)
def test_accelerate_configs_load(name, processes, machines):
    from accelerate.commands.config.config_args import load_config_from_file

    path = RECIPES / "accelerate" / f"{name}.yaml"
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["num_processes"] == processes
    config = load_config_from_file(str(path))
    assert (config.num_processes, config.num_machines) == (processes, machines)
    assert str(config.mixed_precision) == "bf16"
    assert (config.distributed_type.value == "NO") == (processes == 1)


# ---------------------------------------------------------------------------------------------------------------------
# smoke: one Fashion-MNIST-LT recipe of every method family, two steps on CPU
# ---------------------------------------------------------------------------------------------------------------------
COMPONENTS = ("loss_disa", "loss_inc", "loss_spa_reg", "spa_tracker_cosine", "drw_active")
_DISA = {"loss_disa"}
SMOKE = {
    # recipe stem -> the method components its training logs must show (and no other)
    "ce": set(),
    "ce_disa": _DISA,
    "ce_drw_disa": _DISA | {"drw_active"},
    "ldam_disa": _DISA,
    "ldam_drw_disa": _DISA | {"drw_active"},
    "balms_disa": _DISA,
    "focal_disa": _DISA,
    "cb_softmax_disa": _DISA,
    "cb_sigmoid_disa": _DISA,
    "etf_ce_disa": _DISA,
    "etf_dr_disa": _DISA,
    **{f"{base}_spa_{mode}": {"spa_tracker_cosine"} for base in ("ce", "arb") for mode in ("slerp", "proj")},
    **{f"{base}_spa_reg": {"loss_spa_reg", "spa_tracker_cosine"} for base in ("ce", "arb", "etf_dr")},
}
SMOKE_FLAGS = [
    "--max_steps", "2", "--max_train_samples", "1024", "--max_eval_samples", "64",
    "--per_device_train_batch_size", "16", "--per_device_eval_batch_size", "64",
    "--save_strategy", "steps", "--save_steps", "2", "--eval_strategy", "no", "--logging_steps", "1",
    "--disable_tqdm", "true", "--dataloader_num_workers", "0",
]  # fmt: skip
# 1024 training images keep every class of the rho = 100 subset present (the rarest has 60 of 14,886 images).


@pytest.fixture(scope="module")
def fast_pipeline():
    """Build Fashion-MNIST-LT once for all smoke runs (the builder re-reads the IDX files on every call), and skip the
    PNG plots of the final evaluation (covered by the metrics tests; they take seconds per run on this CPU)."""
    import ltnc_hf.data as data
    import ltnc_hf.metrics as metrics

    if not os.path.isfile(os.path.join(data.DEFAULT_FASHION_MNIST_DIR, "train-images-idx3-ubyte.gz")):
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    load_original, evaluate_original = data.load_lt_dataset, metrics.evaluate_model
    cache = {}

    def load(name, imbalance_factor=None, **kwargs):
        key = (name, imbalance_factor, tuple(sorted(kwargs.items())))
        if key not in cache:
            cache[key] = load_original(name, imbalance_factor, **kwargs)
        return cache[key]

    mp = pytest.MonkeyPatch()
    mp.setattr(data, "load_lt_dataset", load)
    mp.setattr(metrics, "evaluate_model", functools.partial(evaluate_original, plots=False))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    mp.undo()


def _train(stem: str, output_dir: Path, *extra: str) -> tuple[dict, set[str]]:
    """Run a Fashion-MNIST-LT recipe for two steps; return the final metrics and the components its training logged."""
    from ltnc_hf.train import main

    path = f"recipes/fmnist_lt/rho100/{stem}.yaml"
    flags = list(SMOKE_FLAGS)
    if _recipe(path).get("drw"):
        flags += ["--drw_start_epoch", "0"]  # two steps never reach the recipe's DRW epoch: switch it on at once
    metrics = main(["--config", str(REPO / path), "--output_dir", str(output_dir), *flags, *extra])
    assert 0.0 <= metrics["eval_accuracy"] <= 1.0
    assert math.isfinite(metrics["eval_loss"])
    assert (output_dir / "final" / "config.json").is_file()
    assert (output_dir / "metrics.json").is_file()
    state = json.loads((output_dir / "checkpoint-2" / "trainer_state.json").read_text(encoding="utf-8"))
    train_logs = [entry for entry in state["log_history"] if "loss" in entry]
    assert len(train_logs) == 2 and all(math.isfinite(entry["loss"]) for entry in train_logs)
    logged = {key for key in COMPONENTS if all(key in entry for entry in train_logs)}
    return metrics, logged


@pytest.mark.slow
@pytest.mark.parametrize("stem", sorted(SMOKE))
def test_recipe_trains_two_steps(stem, fast_pipeline, tmp_path):
    _, logged = _train(stem, tmp_path / stem)
    assert logged == SMOKE[stem]


@pytest.fixture(scope="module")
def inc_run(fast_pipeline, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("inc") / "inc_drw_disa"
    return output_dir, _train("inc_drw_disa", output_dir)[1]


@pytest.mark.slow
def test_inc_recipe_trains_two_steps(inc_run):
    _, logged = inc_run
    assert logged == {"loss_disa", "loss_inc", "drw_active"}


@pytest.mark.slow
def test_crt_recipe_retrains_only_the_classifier(inc_run, tmp_path):
    from ltnc_hf.modeling import LtncForImageClassification

    first_dir, _ = inc_run
    crt_dir = tmp_path / "inc_drw_crt_disa"
    _, logged = _train("inc_drw_crt_disa", crt_dir, "--model_name_or_path", str(first_dir / "final"))
    assert logged == set()
    first = LtncForImageClassification.from_pretrained(first_dir / "final").state_dict()
    model = LtncForImageClassification.from_pretrained(crt_dir / "final")
    crt = model.state_dict()
    assert first.keys() == crt.keys()
    head_ids = {id(p) for p in model.head_parameters()}
    head = {name for name, p in model.named_parameters() if id(p) in head_ids}
    assert head, "the model reports no classifier parameter"
    for name in crt:
        if name in head:
            assert not torch.equal(first[name], crt[name]), f"{name}: the classifier was not re-trained"
        else:
            assert torch.equal(first[name], crt[name]), f"{name}: cRT changed a backbone tensor or buffer"


@pytest.mark.parametrize("spelling", [["--disa_tol", "null"], ["--disa-tol=null"]])
def test_null_on_the_command_line_means_none(tmp_path, spelling):
    path = "recipes/fmnist_lt/rho100/ce_disa.yaml"
    _, _, default = _parse(path, tmp_path)
    assert default.disa_tol == pytest.approx(1e-6)
    _, _, training = parse_args(["--config", str(REPO / path), "--output_dir", str(tmp_path / "o"), *spelling])
    assert training.disa_tol is None
    assert training.disa_max_iter == default.disa_max_iter


def test_the_last_occurrence_wins_with_null_too(tmp_path):
    path = str(REPO / "recipes/fmnist_lt/rho100/ce_disa.yaml")
    base = ["--config", path, "--output_dir", str(tmp_path / "o")]
    assert parse_args([*base, "--disa_tol", "null", "--disa_tol", "1e-5"])[2].disa_tol == pytest.approx(1e-5)
    assert parse_args([*base, "--disa_tol", "1e-5", "--disa_tol=null"])[2].disa_tol is None
    with pytest.raises(ValueError, match="--loss_type cannot be null"):
        parse_args([*base, "--loss_type", "null"])
    # a recipe's `key: null` gives way to a value on the command line
    fixed = str(REPO / "recipes/imagenet_lt/resnet50/ce.yaml")
    assert _recipe("recipes/imagenet_lt/resnet50/ce.yaml")["imbalance_factor"] is None
    data_args = parse_args(["--config", fixed, "--output_dir", str(tmp_path / "i"), "--imbalance_factor", "50"])[0]
    assert data_args.imbalance_factor == 50
    assert parse_args(["--config", fixed, "--output_dir", str(tmp_path / "j")])[0].imbalance_factor is None
