"""``python -m shendu`` runs the command line (see shendu/cli.py)."""
import sys

from shendu.cli import main

sys.exit(main())
