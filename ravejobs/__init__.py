"""ravejobs: train RAVE audio models on SLURM clusters from one Hydra line.

The flow: `config` validates sweep points into RunSpecs, `plan` stages them into arrays,
`submit` renders and submits them, `jobs` run on the nodes, `manifest`/`rundir` remember it all.
"""

__version__ = "0.1.0"
