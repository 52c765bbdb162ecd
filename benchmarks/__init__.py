"""The suite's benchmarks: generation, gates and runtime, each against a baseline measured in the same run.

`python -m benchmarks` (or `python3 noxw.py -s bench`) runs them and writes `build/bench/results.json`
and `build/bench/results.md`. `model.py` says what a figure is; `context.py` prepares what every area
measures on; `report.py` writes the results; each area is a module with `run(ctx) -> Sequence[Comparison]`.
"""
