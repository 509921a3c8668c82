"""Registers the ``safa`` method. Imports nothing heavy: the model loads on first use."""

from cvgl_bench import MethodSpec, hookimpl

PAPER = ("Shi, Liu, Yu, Li. Spatial-Aware Feature Aggregation for Cross-View Image based Geo-Localization. "
         "NeurIPS 2019")


@hookimpl
def cvgl_bench_register_methods(register):
    register(MethodSpec(
        name="safa",
        loader="cvgl_bench_safa.method:SAFA",
        summary="polar-transformed satellite, two VGG16 branches, 8 spatial-aware embeddings, soft-margin triplet",
        paper=PAPER,
        official=False,
        notes=("torch re-implementation from the paper and a reading of the authors' TensorFlow code; "
               "timm's VGG16 ImageNet weights with mean/std normalisation (the authors: their own VGG16 "
               "checkpoint, BGR mean subtraction); polar transform of a 256 px tile instead of the 750/1200 px "
               "original; CVACT's mask of negatives within the positive UTM radius is not applied"),
        profiles=("paper", "cpu"),
        tags=("triplet", "polar", "vgg"),
        views=("ground", "satellite"),
    ))
