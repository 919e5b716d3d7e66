"""`ravejobs prepare | duration | unpack | demo`: the corpus commands (see ravejobs.cli)."""

from __future__ import annotations

import argparse


def _prepare(args: argparse.Namespace) -> int:
    from ravejobs.data.prepare import prepare_corpus

    report = prepare_corpus(args.corpus, args.out, args.sr, augment=args.augment, seed=args.seed,
                            workers=args.workers, force=args.force, progress=not args.quiet)
    return 1 if args.strict and report.bad else 0


def _duration(args: argparse.Namespace) -> int:
    from ravejobs.data.duration import measure, render

    print(render(measure(args.folder)))
    return 0


def _unpack(args: argparse.Namespace) -> int:
    from ravejobs.data.unpack import unpack

    unpack(args.store, args.out)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from ravejobs.data.demo import make_demo_corpus

    out = make_demo_corpus(args.out, sr=args.sr, seconds=args.seconds, seed=args.seed)
    print(f"demo corpus written to {out}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "prepare", help="convert a corpus folder into a packed store (mono, one rate)",
        description="Decode every audio file under CORPUS_DIR (any format libsndfile reads), mix "
                    "to mono, resample with soxr and pack into one memory-mappable store. Files "
                    "that cannot be used are listed with the reason, on screen and in "
                    "OUT/report.json. Run it again after an interruption to resume.")
    p.add_argument("corpus", metavar="CORPUS_DIR")
    p.add_argument("--out", required=True, help="folder of the packed store")
    p.add_argument("--sr", type=int, default=48000, help="target sample rate (default 48000)")
    p.add_argument("--augment", action="store_true",
                   help="add 4 seeded variants per file (speed/pitch, filter, dynamics)")
    p.add_argument("--seed", type=int, default=0, help="augmentation seed (default 0)")
    p.add_argument("--workers", type=int, default=None,
                   help="processes (default: SLURM_CPUS_PER_TASK or all cores)")
    p.add_argument("--force", action="store_true", help="rebuild even if the store is current")
    p.add_argument("--strict", action="store_true", help="exit 1 if any file could not be used")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_prepare)

    d = subparsers.add_parser(
        "duration", help="count audio files and their total duration (headers only)",
        description="Recursively count audio files under DIR and sum their durations from the "
                    "file headers, without decoding; a packed store (prepare's output) is read "
                    "from its index.")
    d.add_argument("folder", metavar="DIR", nargs="?", default=".",
                   help="folder of audio files or a packed store (default: here)")
    d.set_defaults(func=_duration)

    u = subparsers.add_parser(
        "unpack", help="write a packed store as playable wav files (listen to the corpus)",
        description="Write every signal of a packed store (prepare's output, augmented variants "
                    "included) as a 16-bit wav under OUT, named after its source file "
                    "(`clip.wav`, `clip.aug1.wav` ...). Files already there are kept.")
    u.add_argument("store", metavar="STORE", help="folder of the packed store (index.json)")
    u.add_argument("out", metavar="OUT", help="folder to write the wav files into")
    u.set_defaults(func=_unpack)

    m = subparsers.add_parser(
        "demo", help="write the synthetic demo corpus",
        description="Write the corpus the embedded default trains on (`dataset=demo`): tones, "
                    "noise and, where espeak-ng is installed, speech, as wav files under OUT. "
                    "The same seed gives the same files.")
    m.add_argument("out", metavar="OUT", help="folder to write the wav files into")
    m.add_argument("--sr", type=int, default=16000, help="sample rate in Hz (default 16000)")
    m.add_argument("--seconds", type=float, default=60.0,
                   help="total duration in seconds (default 60)")
    m.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    m.set_defaults(func=_demo)
