"""Saved checkpoints: image processor + pipeline, remote code without `ltnc_hf`, Hub push (offline), timm export."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import textwrap

import huggingface_hub
import numpy as np
import pytest
import timm
import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModel, AutoModelForImageClassification, pipeline

from ltnc_hf.modeling import (
    LtncConfig,
    LtncForImageClassification,
    LtncImageProcessor,
    export_backbone_to_timm,
)

REMOTE_CODE_FILES = {
    "cifar_resnet.py",
    "configuration_ltnc.py",
    "heads.py",
    "image_processing_ltnc.py",
    "modeling_ltnc.py",
}
CHECKPOINT_FILES = {"config.json", "model.safetensors", "preprocessor_config.json"} | REMOTE_CODE_FILES


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(autouse=True)
def _no_interactive_prompt(monkeypatch):
    """transformers asks `input()` before running remote code it was not told about: that must never happen."""

    def fail(*args, **kwargs):
        raise AssertionError(f"interactive prompt: {args}")

    monkeypatch.setattr("builtins.input", fail)


def make_model(seed: int = 0, **kwargs) -> LtncForImageClassification:
    torch.manual_seed(seed)
    kwargs.setdefault("backbone", "cifar_resnet8")
    kwargs.setdefault("num_labels", 3)
    kwargs.setdefault("id2label", {0: "cat", 1: "dog", 2: "eel"})
    return LtncForImageClassification(LtncConfig(**kwargs)).eval()


def random_image(mode: str = "RGB", size: tuple[int, int] = (45, 37), seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    array = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(array).convert(mode)


def reference_pixels(image: Image.Image, mode: str, size: int, mean, std) -> torch.Tensor:
    """The processing the checkpoint declares, done with PIL + numpy (bilinear resize, rescale, normalise)."""
    array = np.asarray(image.convert(mode).resize((size, size), Image.BILINEAR), dtype=np.float32) / 255.0
    array = array[..., None] if array.ndim == 2 else array
    array = (array - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return torch.from_numpy(array).permute(2, 0, 1)


def test_saved_folder_holds_weights_processor_and_code(tmp_path):
    make_model(head="etf").save_pretrained(tmp_path)
    assert set(os.listdir(tmp_path)) == CHECKPOINT_FILES
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["auto_map"] == {
        "AutoConfig": "configuration_ltnc.LtncConfig",
        "AutoModel": "modeling_ltnc.LtncModel",
        "AutoModelForImageClassification": "modeling_ltnc.LtncForImageClassification",
        "AutoImageProcessor": "image_processing_ltnc.LtncImageProcessor",
    }
    # the code shipped with the checkpoint imports nothing from the package (only its sibling files, relatively)
    for name in REMOTE_CODE_FILES:
        for node in ast.walk(ast.parse((tmp_path / name).read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 1 or not node.module.startswith("ltnc_hf"), (name, node.module)
                if node.level:
                    assert f"{node.module}.py" in REMOTE_CODE_FILES, (name, node.module)
            elif isinstance(node, ast.Import):
                assert not any(alias.name.startswith("ltnc_hf") for alias in node.names), name
    processor = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert processor["size"] == {"height": 32, "width": 32} and processor["num_channels"] == 3
    assert processor["image_mean"] == pytest.approx([0.4914, 0.4822, 0.4465])
    assert type(AutoImageProcessor.from_pretrained(tmp_path)) is LtncImageProcessor
    assert not (tmp_path / "model.safetensors").is_symlink()
    make_model().save_pretrained(tmp_path / "bare", save_image_processor=False)
    assert "preprocessor_config.json" not in os.listdir(tmp_path / "bare")


def test_pipeline_on_a_saved_checkpoint(tmp_path):
    model = make_model(head="cosine", logit_scale=8.0)
    model.save_pretrained(tmp_path)
    classifier = pipeline("image-classification", model=str(tmp_path))
    image = random_image()
    predictions = classifier(image, top_k=3)
    assert [p["label"] for p in predictions] != [] and {p["label"] for p in predictions} == {"cat", "dog", "eel"}
    config = model.config
    pixels = classifier.image_processor(image, return_tensors="pt")["pixel_values"]
    reference = reference_pixels(image, "RGB", 32, config.image_mean, config.image_std)
    # torchvision resizes uint8 tensors; PIL rounds differently by a level or two (1/255/std ~ 0.02)
    torch.testing.assert_close(pixels[0], reference, atol=0.05, rtol=0)
    probabilities = model(pixels).logits.softmax(-1)[0]
    expected = {model.config.id2label[i]: probabilities[i].item() for i in range(3)}
    assert {p["label"]: p["score"] for p in predictions} == pytest.approx(expected, abs=1e-6)


def test_grayscale_checkpoint_converts_any_input(tmp_path):
    model = make_model(backbone_kwargs={"in_chans": 1}, image_mean=[0.286], image_std=[0.353])
    model.save_pretrained(tmp_path)
    processor = AutoImageProcessor.from_pretrained(tmp_path)
    image = random_image("RGB", (28, 28), seed=1)
    expected = reference_pixels(image, "L", 32, [0.286], [0.353])
    for variant in (image, image.convert("L"), np.array(image), torch.from_numpy(np.array(image)).permute(2, 0, 1)):
        pixels = processor(variant, return_tensors="pt")["pixel_values"]
        assert pixels.shape == (1, 1, 32, 32)
        torch.testing.assert_close(pixels[0], expected, atol=0.05, rtol=0)  # arrays/tensors: torchvision's luma
    predictions = pipeline("image-classification", model=str(tmp_path))(image)
    assert {p["label"] for p in predictions} == {"cat", "dog", "eel"}
    with pytest.raises(ValueError, match="image_mean has 3 values but num_channels=1"):
        LtncImageProcessor(num_channels=1, image_mean=[0.5, 0.5, 0.5], image_std=[0.5])


REMOTE_SCRIPT = textwrap.dedent(
    """
    import builtins, importlib.abc, sys

    class BlockLtncHf(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "ltnc_hf" or name.startswith("ltnc_hf."):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked)")
            return None

    sys.meta_path.insert(0, BlockLtncHf())
    try:
        import ltnc_hf  # noqa: F401
    except ModuleNotFoundError:
        pass
    else:
        raise SystemExit("ltnc_hf is importable")

    def no_prompt(*args, **kwargs):
        raise SystemExit("interactive prompt")

    builtins.input = no_prompt

    import json
    import timm
    import torch
    from PIL import Image
    from transformers import AutoModelForImageClassification, pipeline

    root = sys.argv[1]
    reference = torch.load(root + "/reference.pt")
    model = AutoModelForImageClassification.from_pretrained(root + "/checkpoint", trust_remote_code=True).eval()
    with torch.no_grad():
        logits = model(reference["pixel_values"]).logits
    classifier = pipeline("image-classification", model=root + "/checkpoint", trust_remote_code=True)
    predictions = classifier(Image.open(root + "/image.png"), top_k=3)
    print(json.dumps({
        "model_module": type(model).__module__,
        "processor_module": type(classifier.image_processor).__module__,
        "identical_logits": bool(torch.equal(logits, reference["logits"])),
        "labels": sorted(p["label"] for p in predictions),
        "ltnc_hf_loaded": [name for name in sys.modules if name.startswith("ltnc_hf")],
        "cifar_registered": timm.is_model("cifar_resnet8"),
    }))
    """
)


def test_trust_remote_code_in_a_fresh_process_without_the_package(tmp_path):
    model = make_model(head="etf", disa_target_etf=True)
    model.save_pretrained(tmp_path / "checkpoint")
    pixel_values = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.save({"pixel_values": pixel_values, "logits": model(pixel_values).logits}, tmp_path / "reference.pt")
    random_image().save(tmp_path / "image.png")
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"), OMP_NUM_THREADS="1")
    # -I: isolated mode (no PYTHONPATH, no user site, no current directory on sys.path); the installed package is
    # still findable through site-packages, hence the import blocker inside the script (checked at its top).
    result = subprocess.run(
        [sys.executable, "-I", "-c", REMOTE_SCRIPT, str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["model_module"].startswith("transformers_modules.")
    assert report["model_module"].endswith(".modeling_ltnc")
    assert report["processor_module"].startswith("transformers_modules.")
    assert report["identical_logits"] is True
    assert report["labels"] == ["cat", "dog", "eel"]
    assert report["ltnc_hf_loaded"] == [] and report["cifar_registered"] is True


class FakeHub:
    """Records what `push_to_hub` would send instead of talking to the Hub."""

    def __init__(self, tmp_path):
        self.uploaded = tmp_path / "uploaded"
        self.repo_ids: list[str] = []
        self.paths: list[str] = []

    def create_repo(self, repo_id, **kwargs):
        self.repo_ids.append(repo_id)
        return huggingface_hub.RepoUrl(f"https://huggingface.co/{repo_id}")

    def create_commit(self, repo_id, operations, **kwargs):
        for operation in operations:
            self.paths.append(operation.path_in_repo)
            target = self.uploaded / operation.path_in_repo
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(operation.path_or_fileobj, target)
        return huggingface_hub.CommitInfo(
            commit_url=f"https://huggingface.co/{repo_id}/commit/0",
            commit_message=kwargs.get("commit_message") or "",
            commit_description="",
            oid="0" * 40,
        )


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    hub = FakeHub(tmp_path)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # the model-card lookup stays local
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", lambda api, *a, **kw: hub.create_repo(*a, **kw))
    monkeypatch.setattr(huggingface_hub.HfApi, "create_commit", lambda api, *a, **kw: hub.create_commit(*a, **kw))

    def unexpected(*args, **kwargs):
        raise AssertionError("unexpected Hub call")

    for name in ("upload_folder", "upload_file", "create_branch", "preupload_lfs_files"):
        monkeypatch.setattr(huggingface_hub.HfApi, name, unexpected)
    return hub


def test_push_to_hub_uploads_a_loadable_checkpoint(fake_hub):
    model = make_model(head="etf")
    model.push_to_hub("someone/ltnc-cifar-lt")
    assert fake_hub.repo_ids == ["someone/ltnc-cifar-lt"]
    assert set(fake_hub.paths) == CHECKPOINT_FILES | {"README.md"}
    loaded = AutoModelForImageClassification.from_pretrained(fake_hub.uploaded).eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(loaded(x).logits, model(x).logits)


def test_save_pretrained_with_push_to_hub_includes_the_processor(tmp_path, fake_hub):
    make_model().save_pretrained(tmp_path / "local", push_to_hub=True, repo_id="someone/other")
    assert fake_hub.repo_ids == ["someone/other"]
    assert set(fake_hub.paths) == CHECKPOINT_FILES


def test_export_backbone_to_timm(tmp_path):
    model = make_model(backbone_kwargs={"in_chans": 1, "width": 8}, image_mean=[0.286], image_std=[0.353])
    export_backbone_to_timm(model, tmp_path)
    assert set(os.listdir(tmp_path)) == {"config.json", "model.safetensors"}
    exported = json.loads((tmp_path / "config.json").read_text())
    assert exported["architecture"] == "cifar_resnet8" and exported["num_classes"] == 0
    assert "num_classes" not in exported.get("model_args", {})
    assert exported["pretrained_cfg"]["mean"] == [0.286] and exported["pretrained_cfg"]["input_size"] == [1, 32, 32]
    backbone = timm.create_model(f"local-dir:{tmp_path}", pretrained=True).eval()
    x = torch.randn(3, 1, 32, 32)
    assert torch.equal(backbone(x), model.ltnc.backbone(x))
    assert torch.equal(backbone(x), model.ltnc(x).backbone_features)
    wrapped = AutoModel.from_pretrained(tmp_path).eval()  # transformers' TimmWrapperModel reads the same folder
    assert torch.equal(wrapped(x).pooler_output, backbone(x))
    with pytest.raises(TypeError, match="transformers model, not a timm one"):
        vit = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, image_size=32)
        export_backbone_to_timm(make_model(backbone="hf:vit", backbone_kwargs=vit), tmp_path / "vit")
