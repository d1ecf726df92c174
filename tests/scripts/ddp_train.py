"""Trains a few steps with DisA + SpA-Reg; run by tests/test_distributed.py under torchrun or alone.

Writes `<out>/result-rank<r>.pt` with the world size, the logged DisA losses and the final parameters.
"""

import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from _synthetic import synthetic_pixel_dataset  # noqa: E402
from transformers import set_seed  # noqa: E402

from ltnc_hf import LtncConfig, LtncForImageClassification, LtncTrainer, LtncTrainingArguments  # noqa: E402


def main(out: str, per_device_batch: int) -> None:
    torch.set_num_threads(1)
    ds = synthetic_pixel_dataset([40, 16, 8, 8], size=8, channels=3, seed=1)
    set_seed(0)
    # A LayerNorm-only backbone: BatchNorm statistics are per process under DDP and would differ from one process.
    config = LtncConfig(
        backbone="vit_tiny_patch16_224",
        backbone_kwargs={"img_size": 8, "patch_size": 4, "depth": 1, "embed_dim": 16, "num_heads": 2},
        num_labels=4,
        head="linear",
        disa_target_etf=True,
        image_size=8,
        num_channels=3,
    )
    model = LtncForImageClassification(config)
    args = LtncTrainingArguments(
        output_dir=out,
        per_device_train_batch_size=per_device_batch,
        learning_rate=0.1,
        max_steps=3,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=0,
        disable_tqdm=True,
        disa=True,
        disa_weight=5.0,
        disa_epsilon=0.1,
        spa="reg",
        spa_reg_feature_grad=True,  # the gathered straight-through class means
        optim="sgd",
    )
    trainer = LtncTrainer(model=model, args=args, train_dataset=ds)
    trainer.train()
    disa = [entry["loss_disa"] for entry in trainer.state.log_history if "loss_disa" in entry]
    rank = args.process_index
    torch.save(
        {
            "world_size": args.world_size,
            "disa": disa,
            "params": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "tracker": trainer.class_mean_tracker.means.detach().cpu(),
        },
        os.path.join(out, f"result-rank{rank}.pt"),
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
