"""Stands for a plugin's heavy module: importing it is recorded, so tests can prove laziness."""

from cvgl_bench.method import Method

IMPORTED = True


class ToyMethod(Method):
    """Lists and loads; never trains."""

    def hparams(self, profile, train_split):
        return {"image_size": {"ground": [8, 32], "satellite": [8, 8]}}

    def build_model(self, hparams):
        raise NotImplementedError("a listing-only toy")

    def fit(self, model, train, hparams, run):
        raise NotImplementedError("a listing-only toy")

    def eval_transform(self, hparams, view):
        raise NotImplementedError("a listing-only toy")


TOY_INSTANCE = ToyMethod()  # a loader must name the class, not an instance


class NotAMethod:
    """A loader target that does not subclass Method."""


def load_split(root, protocol):
    return None


def toy_metric(ranks, data, protocol):
    return [1.0]
