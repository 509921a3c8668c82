"""cvgl-bench method plugin ``safa``: Spatial-Aware Feature Aggregation (Shi et al., NeurIPS 2019).

A torch re-implementation written from the paper's description and a reading of the authors'
TensorFlow code (github.com/YujiaoShi/cross_view_localization_SAFA); no code is copied.
"""

__version__ = "0.1.0"
