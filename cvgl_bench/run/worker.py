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
    from ..errors import Terminated, UserError, interruption_of, path_advice, raise_on_sigterm

    raise_on_sigterm()
    try:
        run_worker(args.cell, args.options)
    except BaseException as exc:  # noqa: BLE001 - each kind is answered below or raised again
        if args.debug:
            raise
        interrupt = interruption_of(exc)
        if interrupt is not None:  # the grid stops its cells: one line, not a traceback per worker
            terminated = isinstance(interrupt, Terminated)
            print(f"Error: {'terminated (SIGTERM)' if terminated else 'interrupted (Ctrl-C)'}; rerun the grid to "
                  "resume", file=sys.stderr)
            return 143 if terminated else 130
        if isinstance(exc, UserError):
            print(f"Error: {exc}", file=sys.stderr)
            return exc.exit_code
        if isinstance(exc, OSError) and exc.filename is not None:
            print(f"Error: {exc.filename}: {exc.strerror or exc}; {path_advice(exc)}", file=sys.stderr)
            return 2
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
