"""Run one cell in its own process: ``python -m cvgl_bench.run.worker --cell JSON --options JSON``.

The grid starts this module per cell (through torchrun for multi-GPU cells, or as a submitit
job on Slurm). Under several processes every rank trains its share of each global batch; rank 0
alone evaluates and writes records.
"""

from __future__ import annotations

import argparse
import sys


def run_worker(cell_json: str, options_json: str, slurm: bool = False) -> str:
    """Run the cell described by the JSON strings; returns "ok" (raises on failure)."""
    from ..distributed import process_group
    from ..plugins import PluginHost
    from .cell import cell_from_json, options_from_json
    from .model import default_device
    from .pipeline import run_cell

    if slurm:
        try:
            import submitit

            submitit.helpers.TorchDistributedEnvironment().export()
        except (ImportError, RuntimeError):
            pass
    cell, options = cell_from_json(cell_json), options_from_json(options_json)
    wanted = options.device or default_device()
    with process_group(wanted) as device:
        if device != wanted:  # this rank's own GPU
            options.device = device
        run_cell(cell, options, PluginHost().load())
    return "ok"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cvgl_bench.run.worker", description=__doc__)
    parser.add_argument("--cell", required=True, help="the cell as JSON (cvgl_bench.run.cell.cell_to_json)")
    parser.add_argument("--options", required=True, help="run options as JSON (cvgl_bench.run.cell.options_to_json)")
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    from ..errors import UserError, path_advice

    try:
        run_worker(args.cell, args.options)
    except UserError as exc:
        if args.debug:
            raise
        print(f"Error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        if args.debug or exc.filename is None:
            raise
        print(f"Error: {exc.filename}: {exc.strerror or exc}; {path_advice(exc)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
