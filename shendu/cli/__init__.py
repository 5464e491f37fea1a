"""The ``shendu`` command: the demo, the textbook experiments, and training runs on bundled data.

    shendu demo                          # train on the digits, then the curve-fitting experiment
    shendu experiment --list
    shendu experiment curve-fitting --out runs/curve-fitting --seed 0
    shendu train --dataset digits --hidden 128 64 --epochs 30 --optimizer adam --out runs/digits
    shendu train --resume runs/digits --epochs 50     # continue that run with its saved settings
    shendu generate --checkpoint runs/gpt --prompt "def "   # continue a prompt with a trained GPT
    shendu chat --checkpoint runs/gpt                 # talk to it

One module per command (``demo``, ``experiment``, ``train``, ``generate``, ``chat``), each with
``add_parser(subparsers)`` and the function it runs. Usage mistakes end with status 2 and one line
on stderr; Ctrl-C with 130.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence

from shendu.cli import chat, demo, experiment, generate, size, train
from shendu.cli import finetune as finetune_command
from shendu.cli import run as run_command
from shendu.cli._common import HelpFormatter, Parser, UsageError

__all__ = ["build_parser", "main"]


def _version() -> str:
    from shendu import __version__
    return __version__


def build_parser() -> Parser:
    """The ``shendu`` parser with its ``demo``, ``experiment`` and ``train`` subcommands."""
    parser = Parser(prog="shendu", formatter_class=HelpFormatter,
                    description="shendu (深度): deep learning from first principles, with PyTorch's API",
                    epilog="Run 'shendu COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"shendu {_version()}",
                        help="print shendu's version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands",
                                parser_class=Parser)
    demo.add_parser(sub)
    experiment.add_parser(sub)
    train.add_parser(sub)
    generate.add_parser(sub)
    chat.add_parser(sub)
    run_command.add_parser(sub)
    size.add_parser(sub)
    finetune_command.add_parser(sub)
    return parser


def _unrecognized(extras: list[str], owner: Parser) -> UsageError:
    """The error for options the command does not have, with the closest spelling it does have."""
    import difflib
    message = f"unrecognized arguments: {' '.join(extras)}"
    options = [o for o in owner._option_string_actions if o.startswith("--")]
    for word in extras:
        if word.startswith("--") and (close := difflib.get_close_matches(word.split("=")[0], options, n=1, cutoff=0.8)):
            message += f"; did you mean {close[0]}?"
            break
    return UsageError(f"{message} (see '{owner.prog} --help')", owner.prog)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``) and return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv = train.with_default_task(argv)
        parser = build_parser()
        args, extras = parser.parse_known_args(argv)
        if extras:
            raise _unrecognized(extras, getattr(args, "parser", parser))
        if not getattr(args, "func", None):
            parser.print_help()
            return 0
        args.argv = argv
        return args.func(args)
    except UsageError as e:
        print(f"{e.prog}: error: {e}", file=sys.stderr)
        return 2
    except SystemExit as e:  # --help and --version end here; keep main(argv) returning a status in-process
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except KeyboardInterrupt:
        print("shendu: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
