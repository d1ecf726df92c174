"""Models: CIFAR ResNets registered with timm, the simplex ETF, and the `ltnc` transformers model.

Importing this package registers `cifar_resnet{8,20,32,44,56,110}` with timm and the `ltnc` model type with
`AutoConfig`, `AutoModel`, `AutoModelForImageClassification` and `AutoImageProcessor`.
"""

from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForImageClassification

from .cifar_resnet import CIFAR_MEAN, CIFAR_RESNET_DEPTHS, CIFAR_STD, CifarResNet
from .configuration_ltnc import HEAD_TYPES, LtncConfig
from .export import export_backbone_to_timm
from .heads import (
    FEATURE_NORMS,
    SPREAD_CRITERIA,
    CosineHead,
    EtfHead,
    FeatureNeck,
    LinearHead,
    simplex_etf,
    spread_unit_vectors,
)
from .image_processing_ltnc import LtncImageProcessor
from .modeling_ltnc import (
    LtncForImageClassification,
    LtncImageClassifierOutput,
    LtncModel,
    LtncModelOutput,
    LtncPreTrainedModel,
)

__all__ = [
    "CIFAR_MEAN",
    "CIFAR_RESNET_DEPTHS",
    "CIFAR_STD",
    "CifarResNet",
    "CosineHead",
    "EtfHead",
    "FEATURE_NORMS",
    "FeatureNeck",
    "HEAD_TYPES",
    "LinearHead",
    "LtncConfig",
    "LtncForImageClassification",
    "LtncImageClassifierOutput",
    "LtncImageProcessor",
    "LtncModel",
    "LtncModelOutput",
    "LtncPreTrainedModel",
    "SPREAD_CRITERIA",
    "export_backbone_to_timm",
    "simplex_etf",
    "spread_unit_vectors",
]

AutoConfig.register(LtncConfig.model_type, LtncConfig, exist_ok=True)
AutoModel.register(LtncConfig, LtncModel, exist_ok=True)
AutoModelForImageClassification.register(LtncConfig, LtncForImageClassification, exist_ok=True)
AutoImageProcessor.register(LtncConfig, image_processor_classes={"torchvision": LtncImageProcessor}, exist_ok=True)
