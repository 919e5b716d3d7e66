"""Corpus data: discovery, duration, conversion + augmentation, the packed store, sampling, staging.

Modules (one job each): `audio` (find and decode files), `duration` (header-only totals),
`augment` (seeded variants), `prepare` (corpus -> packed store, in parallel, resumable),
`store` (the packed store: one int16 file + JSON index, memory-mapped), `loader`
(`WindowSampler`), `stage` (copy to $SLURM_TMPDIR), `demo` (the self-made corpus), `cli`.
Nothing heavy is imported here, so `ravejobs --help` stays fast.
"""
