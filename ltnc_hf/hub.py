"""Publishing a trained checkpoint folder (weights, config, image-processor config, model card, custom code)."""

from __future__ import annotations

import os

REQUIRED_FILES = ("config.json", "model.safetensors", "preprocessor_config.json")


def push_checkpoint(
    folder: str,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload ltnc-hf model",
) -> str:
    """Upload a folder written by `ltnc-hf train` (its `final/` folder) to the Hub as a model repository.

    The folder must hold the safetensors weights, `config.json` and `preprocessor_config.json`; its `README.md`
    model card and the custom-code files (for `trust_remote_code=True` loading) are sent along. Pickled weights
    (`*.bin`, `*.pt`) are never uploaded.

    Returns:
        `str`: the URL of the commit.
    """
    from huggingface_hub import HfApi

    if not os.path.isdir(folder):
        raise ValueError(f"{folder!r} is not a folder; pass the `final/` folder a training run wrote.")
    missing = [name for name in REQUIRED_FILES if not os.path.isfile(os.path.join(folder, name))]
    if missing:
        raise ValueError(
            f"{folder!r} lacks {missing}; save the model with `model.save_pretrained(folder)` (ltnc-hf train does) "
            "before pushing."
        )
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    info = api.upload_folder(
        folder_path=folder,
        repo_id=repo_id,
        repo_type="model",
        commit_message=commit_message,
        ignore_patterns=["*.bin", "*.pt", "*.pth", "checkpoint-*", "optimizer*", "*.tmp"],
    )
    return str(getattr(info, "commit_url", info))
