"""Stands for a plugin's heavy module: importing it is recorded, so tests can prove laziness."""

IMPORTED = True


class ToyMethod:
    pass


def load_split(root, protocol):
    return None


def toy_metric(ranks, data, protocol):
    return [1.0]
